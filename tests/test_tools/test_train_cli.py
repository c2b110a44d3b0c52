# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Through ``tools/train.py`` on the demo configs and a tiny digits set: a
diverging run stops with a message naming the loss terms and keeps its last
good checkpoint; a SIGKILL during a checkpoint save leaves a checkpoint that
``--resume`` continues from; a missing image stops the run before the first
iteration.

The SIGKILL run is a real process; the others call ``tools/train.py``'s
``main(argv)`` in this process (what the command line runs, minus ~15 s of
imports per run): the exception that reaches the caller is what makes the
command exit non-zero."""
import glob
import os
import os.path as osp
import signal
import subprocess
import sys
import tempfile
import textwrap
import unittest

import torch

from mmkd_dense.datasets import BadInputError
from mmkd_dense.engine import NonFiniteLossError

from .tool_helpers import load_tool, make_small_demo_configs

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _train_process(args, extra_path='', timeout=600):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (REPO, extra_path) if p), OMP_NUM_THREADS='1')
    env.pop('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', None)
    return subprocess.run([sys.executable, 'tools/train.py'] + args,
                          capture_output=True, text=True, cwd=REPO, env=env,
                          timeout=timeout)


def _train_main(args):
    """``python tools/train.py ARGS``, in this process."""
    load_tool('tools/train.py').main(args)


def _run_logs(work_dir):
    text = ''
    for log in glob.glob(osp.join(work_dir, '*', '*.log')):
        with open(log) as f:
            text += f.read()
    return text


def _files(work_dir):
    return sorted(
        osp.basename(p) for p in glob.glob(osp.join(work_dir, '*.pth*')))


def _last(work_dir):
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return f.read().strip()


def _finite(path):
    state = torch.load(path, map_location='cpu')['state_dict']
    return all(bool(torch.isfinite(v).all()) for v in state.values()
               if v.is_floating_point())


class TestTrainCLI(unittest.TestCase):
    """The demo detector (RetinaNet R18-c16) on 8 train images of 64x64,
    batch 4: 2 iterations per epoch; a checkpoint every epoch and
    ``max_keep_ckpts=1`` as in the demo runtime."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        paths = make_small_demo_configs(cls.tmp.name, num_train=8,
                                        num_val=2, max_epochs=2)
        cls.data_root = paths['data_root']
        cls.base = osp.join(cls.tmp.name, 'base.py')
        with open(cls.base, 'w') as f:
            f.write(textwrap.dedent(f"""\
                _base_ = [{paths['teacher']!r}]
                train_cfg = dict(max_epochs=2, val_interval=10)
                default_hooks = dict(checkpoint=dict(
                    interval=1, max_keep_ckpts=1))
                """))

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def _config(self, name, text):
        path = osp.join(self.tmp.name, name)
        with open(path, 'w') as f:
            f.write(f'_base_ = [{self.base!r}]\n' + textwrap.dedent(text))
        return path

    def test_diverging_run(self):
        # epoch 1 at the demo lr, then x1e7 (AdamW lr 2e4) from epoch 2
        cfg = self._config('diverge.py', """\
            param_scheduler = [dict(type='MultiStepLR', by_epoch=True,
                                    milestones=[1], gamma=1e7)]
            """)
        work = osp.join(self.tmp.name, 'diverge')
        with self.assertRaises(NonFiniteLossError) as cm:
            _train_main([cfg, '--work-dir', work])
        err = str(cm.exception)
        # epoch 2 = iterations 3 and 4
        self.assertRegex(err, r'^Training diverged at iteration [34] '
                         r'\(epoch 2\)')
        self.assertRegex(err, r'non-finite loss terms: loss_(cls|bbox)=')
        # the epoch-1 checkpoint is kept, finite, and last_checkpoint
        # points at it; nothing of the diverged model was written
        self.assertEqual(_files(work), ['epoch_1.pth'])
        self.assertEqual(_last(work), osp.join(work, 'epoch_1.pth'))
        self.assertTrue(_finite(osp.join(work, 'epoch_1.pth')))
        self.assertIn('Training diverged at iteration', _run_logs(work))

    def test_sigkill_during_save_then_resume(self):
        # SIGKILL after epoch_2.pth.partial is written, before it is renamed
        killer = osp.join(self.tmp.name, 'killer')
        os.makedirs(killer, exist_ok=True)
        with open(osp.join(killer, 'kill_on_save.py'), 'w') as f:
            f.write(textwrap.dedent("""\
                import os
                import signal

                from mmkd_dense.engine.hooks import safe_checkpoint_hook as m

                _fsync = m._fsync_file


                def _kill_then_fsync(path):
                    if path.endswith('epoch_2.pth.partial'):
                        os.kill(os.getpid(), signal.SIGKILL)
                    _fsync(path)


                m._fsync_file = _kill_then_fsync
                """))
        cfg = self._config('killed.py', """\
            custom_imports = dict(imports=['mmkd_dense', 'kill_on_save'],
                                  allow_failed_imports=False)
            """)
        work = osp.join(self.tmp.name, 'killed')
        proc = _train_process([cfg, '--work-dir', work], extra_path=killer)
        self.assertEqual(proc.returncode, -signal.SIGKILL,
                         proc.stderr[-3000:])
        self.assertEqual(_files(work), ['epoch_1.pth', 'epoch_2.pth.partial'])
        self.assertEqual(_last(work), osp.join(work, 'epoch_1.pth'))
        ckpt = torch.load(osp.join(work, 'epoch_1.pth'), map_location='cpu')
        self.assertEqual(ckpt['meta']['epoch'], 1)

        _train_main([self.base, '--work-dir', work, '--resume'])
        logs = _run_logs(work)
        for text in ('resumed epoch: 1, iter: 2',
                     'epoch_2.pth.partial: an incomplete checkpoint left by '
                     'an interrupted save'):
            self.assertTrue(text in logs, text)
        self.assertEqual(_files(work), ['epoch_2.pth'])
        self.assertEqual(_last(work), osp.join(work, 'epoch_2.pth'))
        ckpt = torch.load(osp.join(work, 'epoch_2.pth'), map_location='cpu')
        self.assertEqual((ckpt['meta']['epoch'], ckpt['meta']['iter']),
                         (2, 4))

    def test_missing_image_stops_before_training(self):
        data = osp.join(self.tmp.name, 'digits_missing')
        import shutil
        shutil.copytree(self.data_root, data)
        victim = sorted(glob.glob(osp.join(data, 'train', '*')))[3]
        os.remove(victim)
        cfg = self._config('missing.py', f"""\
            data_root = {data + '/'!r}
            train_dataloader = dict(dataset=dict(data_root=data_root))
            val_dataloader = dict(dataset=dict(data_root=data_root))
            test_dataloader = val_dataloader
            val_evaluator = dict(
                ann_file=data_root + 'annotations/instances_val.json')
            test_evaluator = val_evaluator
            """)
        work = osp.join(self.tmp.name, 'missing')
        with self.assertRaises(BadInputError) as cm:
            _train_main([cfg, '--work-dir', work])
        self.assertIn(f'{victim}: missing image file', str(cm.exception))
        self.assertIn('instances_train.json', str(cm.exception))
        self.assertNotIn('Epoch(train)', _run_logs(work))  # no iteration
        self.assertEqual(_files(work), [])


if __name__ == '__main__':
    unittest.main()
