# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Each compat shim: the failure it fixes (in a clean interpreter without
mmkd_dense) and that the shim fixes it."""
import os
import subprocess
import sys
import tempfile
import unittest

import torch

import mmkd_dense  # noqa: F401

PY = sys.executable


def run_py(code: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', None)
    return subprocess.run([PY, '-c', code], capture_output=True, text=True,
                          env=env, timeout=300)


class _GetattrRef:
    """Pickles as ``getattr(obj, name)``, like mmengine's method refs."""

    def __init__(self, obj, name):
        self.obj, self.name = obj, name

    def __reduce__(self):
        return (getattr, (self.obj, self.name))


class TestMMRazorQuantizationGuard(unittest.TestCase):
    """mmrazor issue #615: ``import mmrazor.models`` fails on torch 2.x."""

    def test_fails_without_shim(self):
        proc = run_py('import mmrazor.models')
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn('torch>=1.13', proc.stderr)

    def test_imports_with_shim(self):
        proc = run_py(
            'import mmkd_dense, mmrazor.models\n'
            'from mmrazor.registry import MODELS\n'
            'assert MODELS.get("SingleTeacherDistill") is not None\n'
            'print("ok")')
        self.assertEqual(proc.returncode, 0, proc.stderr[-2000:])
        self.assertIn('ok', proc.stdout)

    def test_installed_files_untouched(self):
        import importlib.util
        root = importlib.util.find_spec('mmrazor').submodule_search_locations
        path = os.path.join(root[0], 'structures', 'quantization',
                            'backend_config', 'mapping.py')
        with open(path) as f:
            self.assertIn(
                "digit_version(torch.__version__) >= "
                "digit_version('1.13.0')", f.read())


class TestWeightsOnlyCheckpoints(unittest.TestCase):
    """mmengine issue #1655: torch>=2.6 ``weights_only`` rejects mmengine
    checkpoints; the shim allow-lists exactly mmengine's types."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.ckpt = os.path.join(cls.tmp.name, 'ckpt.pth')
        from mmengine.logging import HistoryBuffer, MessageHub
        import numpy as np
        hub = MessageHub.get_instance('compat_test')
        hub.update_scalar('train/loss', 1.5)
        hub.update_scalar('train/np_loss', np.float64(0.5))
        torch.save(
            dict(meta=dict(epoch=1, iter=2, seed=np.int64(3)),
                 state_dict={'w': torch.ones(2)},
                 message_hub=hub.state_dict(),
                 extra=HistoryBuffer([1.0, 2.0], [1, 1])), cls.ckpt)
        cls.evil = os.path.join(cls.tmp.name, 'evil.pth')
        torch.save({'obj': unittest.TestCase}, cls.evil)
        # mmengine pickles HistoryBuffer._statistics_methods entries as
        # getattr(HistoryBuffer, 'min'); a checkpoint may use getattr only so
        cls.methods = os.path.join(cls.tmp.name, 'methods.pth')
        torch.save({'m': _GetattrRef(HistoryBuffer, 'min')}, cls.methods)
        cls.evil_getattr = os.path.join(cls.tmp.name, 'evil_getattr.pth')
        torch.save({'m': _GetattrRef(HistoryBuffer, '__dict__')},
                   cls.evil_getattr)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_fails_without_shim(self):
        proc = run_py(f'import torch; torch.load({self.ckpt!r})')
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn('Unsupported global', proc.stderr)

    def test_loads_with_shim(self):
        proc = run_py(
            'import mmkd_dense, torch\n'
            'from mmengine.runner import CheckpointLoader\n'
            f'ck = CheckpointLoader.load_checkpoint({self.ckpt!r})\n'
            'print(float(ck["state_dict"]["w"].sum()))')
        self.assertEqual(proc.returncode, 0, proc.stderr[-2000:])
        self.assertIn('2.0', proc.stdout)

    def test_history_buffer_methods_resolve(self):
        proc = run_py(
            'import mmkd_dense, torch\n'
            'from mmengine.logging import HistoryBuffer\n'
            f'ck = torch.load({self.methods!r})\n'
            'assert ck["m"] is HistoryBuffer.min; print("ok")')
        self.assertEqual(proc.returncode, 0, proc.stderr[-2000:])

    def test_arbitrary_getattr_refused(self):
        proc = run_py(
            f'import mmkd_dense, torch; torch.load({self.evil_getattr!r})')
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn('is not allowed', proc.stderr)

    def test_protection_kept_for_other_types(self):
        proc = run_py(f'import mmkd_dense, torch; torch.load({self.evil!r})')
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn('weights_only', proc.stderr)


if __name__ == '__main__':
    unittest.main()
