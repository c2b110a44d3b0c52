# Copyright (c) mmkd_dense contributors. All rights reserved.
"""SafeCheckpointHook: a kill at any point of a save leaves a loadable
checkpoint that ``last_checkpoint`` points at, and resuming works."""
import glob
import os.path as osp
import tempfile
import unittest
from unittest import mock

import torch
from mmengine.evaluator import BaseMetric
from mmengine.runner import Runner

import mmkd_dense  # noqa: F401
from mmkd_dense.engine.hooks import safe_checkpoint_hook as sch

from ._toy import ToyDataset, ToyDistillModel, toy_runner_cfg


class Killed(BaseException):
    """Stands for SIGKILL: not an Exception, so nothing catches it."""


def _files(work_dir):
    return sorted(
        osp.basename(p) for p in glob.glob(osp.join(work_dir, '*.pth*')))


def _last(work_dir):
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return f.read().strip()


def _iter_of(path):
    return torch.load(path, map_location='cpu')['meta']['iter']


class ToyMetric(BaseMetric):
    """'acc' grows by one at each evaluation (so every val is a new best)."""

    def __init__(self):
        super().__init__()
        self.evals = 0

    def process(self, data_batch, data_samples):
        self.results.append(1)

    def compute_metrics(self, results):
        self.evals += 1
        return dict(acc=float(self.evals))


class TestSafeCheckpointHook(unittest.TestCase):
    """max_keep_ckpts=1, a checkpoint every iteration, 4 iterations; the
    save of iteration 3 is killed at each step of the save."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.work = osp.join(self.tmp.name, 'work')

    def tearDown(self):
        self.tmp.cleanup()

    def _run(self, resume=False, safe=True, **kwargs):
        cfg = toy_runner_cfg(self.work, ToyDistillModel(), max_iters=4,
                             max_keep_ckpts=1, resume=resume, safe=safe,
                             **kwargs)
        Runner(**cfg).train()

    def _assert_recoverable(self, expect_last_iter):
        """last_checkpoint names a complete checkpoint; --resume finishes
        the run and leaves exactly what an uninterrupted run leaves."""
        last = _last(self.work)
        self.assertTrue(osp.isfile(last),
                        f'{last} missing: {_files(self.work)}')
        self.assertEqual(_iter_of(last), expect_last_iter)
        self._run(resume=True)
        self.assertEqual(_files(self.work), ['iter_4.pth'])
        self.assertEqual(_last(self.work), osp.join(self.work, 'iter_4.pth'))
        self.assertEqual(_iter_of(osp.join(self.work, 'iter_4.pth')), 4)

    def _kill_at_iter3(self, target, attr, check):
        """Patch ``target.attr`` to raise Killed when ``check(*args)``."""
        original = getattr(target, attr)

        def wrapper(*args, **kwargs):
            if check(*args, **kwargs):
                raise Killed()
            return original(*args, **kwargs)

        with mock.patch.object(target, attr, wrapper):
            with self.assertRaises(Killed):
                self._run()

    def test_uninterrupted(self):
        self._run()
        self.assertEqual(_files(self.work), ['iter_4.pth'])
        self.assertEqual(_last(self.work), osp.join(self.work, 'iter_4.pth'))

    def test_kill_while_writing(self):
        # half of iter_3's bytes are on disk when the process dies
        import mmengine.runner.runner as runner_mod
        original = runner_mod.save_checkpoint

        def half_write(checkpoint, filename, **kwargs):
            if 'iter_3' in filename:
                with open(filename, 'wb') as f:
                    f.write(b'PK\x03\x04 truncated')
                raise Killed()
            return original(checkpoint, filename, **kwargs)

        with mock.patch.object(runner_mod, 'save_checkpoint', half_write):
            with self.assertRaises(Killed):
                self._run()
        self.assertEqual(_files(self.work), ['iter_2.pth',
                                             'iter_3.pth.partial'])
        self._assert_recoverable(expect_last_iter=2)

    def test_kill_before_rename(self):
        self._kill_at_iter3(sch, '_fsync_file',
                            lambda p: p.endswith('iter_3.pth.partial'))
        self.assertEqual(_files(self.work), ['iter_2.pth',
                                             'iter_3.pth.partial'])
        self._assert_recoverable(expect_last_iter=2)

    def test_kill_before_last_checkpoint_update(self):
        self._kill_at_iter3(sch, 'write_text_atomic',
                            lambda p, text: text.endswith('iter_3.pth'))
        self.assertEqual(_files(self.work), ['iter_2.pth', 'iter_3.pth'])
        self._assert_recoverable(expect_last_iter=2)

    def test_kill_before_rotation(self):
        self._kill_at_iter3(sch.SafeCheckpointHook, '_remove',
                            lambda self_, p: p.endswith('iter_2.pth'))
        self.assertEqual(_files(self.work), ['iter_2.pth', 'iter_3.pth'])
        # resumes from iter_3, and removes the iter_2 it superseded
        self._assert_recoverable(expect_last_iter=3)

    def test_upstream_hook_loses_everything(self):
        # the reported failure, for reference: mmengine deletes iter_2
        # before writing iter_3; last_checkpoint names the deleted file
        import mmengine.runner.runner as runner_mod

        def killed(checkpoint, filename, **kwargs):
            if 'iter_3' in filename:
                raise Killed()
            return torch.save(checkpoint, filename)

        with mock.patch.object(runner_mod, 'save_checkpoint', killed):
            with self.assertRaises(Killed):
                self._run(safe=False)
        self.assertEqual(_files(self.work), [])
        self.assertEqual(_last(self.work), osp.join(self.work, 'iter_2.pth'))

    def test_save_best_replaces_best_only_when_complete(self):
        def run(**kw):
            cfg = toy_runner_cfg(self.work, ToyDistillModel(), max_iters=4,
                                 max_keep_ckpts=1, save_best='acc',
                                 rule='greater', **kw)
            cfg.update(
                val_dataloader=dict(
                    dataset=ToyDataset(2),
                    sampler=dict(type='DefaultSampler', shuffle=False),
                    collate_fn=dict(type='default_collate'),
                    batch_size=2, num_workers=0),
                val_evaluator=[ToyMetric()],
                val_cfg=dict(type='ValLoop'))
            cfg['train_cfg'] = dict(by_epoch=False, max_iters=4,
                                    val_interval=1)
            Runner(**cfg).train()

        original = sch._fsync_file

        def kill_best3(path):
            if path.endswith('best_acc_iter_3.pth.partial'):
                raise Killed()
            return original(path)

        with mock.patch.object(sch, '_fsync_file', kill_best3):
            with self.assertRaises(Killed):
                run()
        # the previous best is still there (mmengine deletes it first)
        self.assertIn('best_acc_iter_2.pth', _files(self.work))
        self.assertEqual(
            _iter_of(osp.join(self.work, 'best_acc_iter_2.pth')), 2)
        # uninterrupted: one best, one latest
        self.work = osp.join(self.tmp.name, 'work2')
        run()
        self.assertEqual(_files(self.work),
                         ['best_acc_iter_4.pth', 'iter_4.pth'])


if __name__ == '__main__':
    unittest.main()
