# Copyright (c) mmkd_dense contributors. All rights reserved.
"""NonFiniteGuardHook: a NaN/Inf loss or grad norm stops training at once,
names the loss terms, and no checkpoint of the diverged model is written
(the last finite one is kept)."""
import glob
import os.path as osp
import tempfile
import unittest

import torch
from mmengine.runner import Runner

import mmkd_dense  # noqa: F401
from mmkd_dense.engine import (NonFiniteCheckpointError, NonFiniteGuardHook,
                               NonFiniteLossError)

from ._toy import ToyDistillModel, toy_runner_cfg


def _ckpts(work_dir):
    return sorted(osp.basename(p) for p in glob.glob(osp.join(work_dir,
                                                              '*.pth*')))


def _last(work_dir):
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return f.read().strip()


def _all_finite(path):
    state = torch.load(path, map_location='cpu')['state_dict']
    return all(bool(torch.isfinite(v).all()) for v in state.values()
               if v.is_floating_point())


def _run_log(work_dir):
    logs = glob.glob(osp.join(work_dir, '*', '*.log'))
    text = ''
    for log in logs:
        with open(log) as f:
            text += f.read()
    return text


class TestNonFiniteGuardHook(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.work = osp.join(self.tmp.name, 'work')

    def tearDown(self):
        self.tmp.cleanup()

    def _train(self, model, **kwargs):
        runner = Runner(**toy_runner_cfg(self.work, model, **kwargs))
        runner.train()

    def test_nan_loss_stops_and_keeps_last_checkpoint(self):
        # distill.loss_b is NaN from the 3rd iteration on; max_keep_ckpts=1
        # as in the demo runtime
        with self.assertRaises(NonFiniteLossError) as cm:
            self._train(ToyDistillModel(bad_from=3), max_keep_ckpts=1)
        msg = str(cm.exception)
        self.assertIn('Training diverged at iteration 3', msg)
        self.assertIn('non-finite loss terms: distill.loss_b=nan', msg)
        self.assertNotIn('student.loss_a=', msg)  # that one is finite
        self.assertIn('iter_2.pth, was saved before the divergence', msg)
        self.assertIn('current lr: 0.1', msg)
        self.assertIn('no gradient clipping', msg)  # none configured
        # nothing of iteration 3 was written, iteration 2 was not rotated
        self.assertEqual(_ckpts(self.work), ['iter_2.pth'])
        self.assertEqual(_last(self.work), osp.join(self.work, 'iter_2.pth'))
        self.assertTrue(_all_finite(osp.join(self.work, 'iter_2.pth')))
        # the message is in the run log, not only on stderr
        self.assertIn('non-finite loss terms: distill.loss_b=nan',
                      _run_log(self.work))

    def test_inf_loss_before_any_checkpoint(self):
        with self.assertRaises(NonFiniteLossError) as cm:
            self._train(ToyDistillModel(bad_from=1, bad_value=float('inf')),
                        interval=2)
        msg = str(cm.exception)
        self.assertIn('iteration 1', msg)
        self.assertIn('loss=inf', msg)
        self.assertIn('distill.loss_b=inf', msg)
        self.assertIn('No checkpoint had been saved in this run yet', msg)
        self.assertEqual(_ckpts(self.work), [])
        self.assertFalse(osp.exists(osp.join(self.work, 'last_checkpoint')))

    def test_non_finite_grad_norm_with_finite_loss(self):
        # loss_sqrt = (w - w)^0.5 = 0, but its gradient is +inf: the loss
        # stays finite, clip_grad logs grad_norm=inf
        with self.assertRaises(NonFiniteLossError) as cm:
            self._train(ToyDistillModel(sqrt_grad_from=2),
                        clip_grad=dict(max_norm=1.0))
        msg = str(cm.exception)
        self.assertIn('iteration 2', msg)
        self.assertIn('every loss term is finite', msg)
        self.assertIn('grad_norm=inf (non-finite)', msg)
        self.assertNotIn('no gradient clipping', msg)  # clip_grad is set
        self.assertEqual(_ckpts(self.work), ['iter_1.pth'])

    def test_patience(self):
        # NaN weights after the first bad step keep the loss NaN: with
        # patience=2 the run stops one iteration later
        cfg = toy_runner_cfg(self.work, ToyDistillModel(bad_from=3),
                             max_iters=6, interval=10)
        cfg['custom_hooks'] = [
            dict(type='mmkd_dense.NonFiniteGuardHook', patience=2)
        ]
        with self.assertRaisesRegex(NonFiniteLossError, 'iteration 4'):
            Runner(**cfg).train()
        with self.assertRaisesRegex(ValueError, 'patience'):
            NonFiniteGuardHook(patience=0)

    def test_safe_checkpoint_refuses_without_guard(self):
        # belt and braces: without the guard, SafeCheckpointHook refuses to
        # write NaN weights and keeps the previous checkpoint
        with self.assertRaises(NonFiniteCheckpointError) as cm:
            self._train(ToyDistillModel(bad_from=3), max_keep_ckpts=1,
                        guard=False)
        msg = str(cm.exception)
        self.assertIn('Refusing to save ' + osp.join(self.work, 'iter_3.pth'),
                      msg)
        self.assertIn('1 of 2 floating-point tensors', msg)  # weight, calls
        self.assertIn('(first: weight)', msg)
        self.assertEqual(_ckpts(self.work), ['iter_2.pth'])
        self.assertEqual(_last(self.work), osp.join(self.work, 'iter_2.pth'))

    def test_upstream_hook_alone_loses_the_good_checkpoint(self):
        # what the issue reported: mmengine's CheckpointHook without the
        # guard replaces the last finite checkpoint by a NaN one, rc 0
        self._train(ToyDistillModel(bad_from=3), max_keep_ckpts=1,
                    guard=False, safe=False)
        self.assertEqual(_ckpts(self.work), ['iter_4.pth'])
        self.assertFalse(_all_finite(osp.join(self.work, 'iter_4.pth')))

    def test_shipped_runtimes_enable_both_hooks(self):
        from mmengine.config import Config
        repo = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
        for rel in ('configs/_base_/default_runtime.py',
                    'configs/demo/_base_/digits_runtime.py'):
            with self.subTest(config=rel):
                cfg = Config.fromfile(osp.join(repo, rel))
                self.assertEqual(cfg.default_hooks.checkpoint.type,
                                 'mmkd_dense.SafeCheckpointHook')
                self.assertIn('mmkd_dense.NonFiniteGuardHook',
                              [h['type'] for h in cfg.custom_hooks])
        # no shipped config drops them: a custom_hooks list of its own must
        # keep the guard, a checkpoint hook of its own must be the safe one
        for path in glob.glob(osp.join(repo, 'configs', '**', '*.py'),
                              recursive=True):
            with open(path) as f:
                text = f.read()
            with self.subTest(config=path):
                if 'custom_hooks' in text:
                    self.assertIn('mmkd_dense.NonFiniteGuardHook', text)
                if "type='CheckpointHook'" in text:
                    self.fail('uses mmengine CheckpointHook, not '
                              'mmkd_dense.SafeCheckpointHook')


if __name__ == '__main__':
    unittest.main()
