# Copyright (c) mmkd_dense contributors. All rights reserved.
"""GTAwareDistiller runs each connector once per step: losses mapping the
same record through the same connector share one output (and its gradient
sums over them), the output is never reused in a later step, and nothing
is kept after ``compute_distill_losses`` returns or raises."""
import unittest

import torch
from torch import nn

import mmkd_dense  # noqa: F401
from mmkd_dense.models.distillers import GTAwareDistiller


class _Net(nn.Module):

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.neck = nn.Conv2d(3, channels, 1)

    def forward(self, x):
        return [self.neck(x), self.neck(x[..., ::2, ::2])]  # two "levels"


def _mapping(level, connector='adapter'):
    return dict(
        pred=dict(from_student=True, recorder='fpn', data_idx=level,
                  connector=connector),
        target=dict(from_student=False, recorder='fpn', data_idx=level))


class TestConnectorOutputsOncePerStep(unittest.TestCase):

    def setUp(self):
        torch.manual_seed(0)
        self.student, self.teacher = _Net(4), _Net(6)
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        self.distiller = GTAwareDistiller(
            student_recorders=dict(
                fpn=dict(type='mmrazor.ModuleOutputs', source='')),
            teacher_recorders=dict(
                fpn=dict(type='mmrazor.ModuleOutputs', source='')),
            distill_losses=dict(
                loss_mse=dict(type='mmdet.MSELoss'),
                loss_l1=dict(type='mmdet.L1Loss'),
                loss_mse_l1=dict(type='mmdet.MSELoss')),
            connectors=dict(adapter=dict(
                type='mmkd_dense.FeatureAdapter', in_channels=4,
                out_channels=6)),
            # two losses on level 0 through one connector, one on level 1
            loss_forward_mappings=dict(
                loss_mse=_mapping(0), loss_l1=_mapping(0),
                loss_mse_l1=_mapping(1)))
        self.distiller.prepare_from_student(self.student)
        self.distiller.prepare_from_teacher(self.teacher)
        self.adapter = self.distiller.connectors['adapter']
        self.calls = []
        self.adapter.conv.register_forward_hook(
            lambda mod, args, out: self.calls.append(args[0].shape[-1]))

    def _step(self, x):
        with self.distiller.student_recorders, \
                self.distiller.teacher_recorders:
            self.student(x)
            self.teacher(x)
        return self.distiller.compute_distill_losses()

    def test_once_per_record_and_step(self):
        x = torch.randn(2, 3, 8, 8)
        losses = self._step(x)
        # level 0 (width 8) once for two losses, level 1 (width 4) once
        self.assertEqual(sorted(self.calls), [4, 8])
        adapted = [self.adapter(f) for f in self.student(x)]
        target = self.teacher(x)
        torch.testing.assert_close(
            losses['loss_mse'], ((adapted[0] - target[0])**2).mean())
        torch.testing.assert_close(
            losses['loss_l1'], (adapted[0] - target[0]).abs().mean())
        torch.testing.assert_close(
            losses['loss_mse_l1'], ((adapted[1] - target[1])**2).mean())
        self.assertIsNone(self.distiller._connector_outputs)

    def test_shared_output_gives_the_summed_gradient(self):
        x = torch.randn(2, 3, 8, 8)
        sum(self._step(x).values()).backward()
        shared = self.adapter.conv.weight.grad.clone()
        self.adapter.zero_grad()
        # reference: each loss through its own connector call
        adapted0 = self.adapter(self.student(x)[0])
        adapted1 = self.adapter(self.student(x)[1])
        target = self.teacher(x)
        reference = (((adapted0 - target[0])**2).mean() +
                     (self.adapter(self.student(x)[0]) -
                      target[0]).abs().mean() +
                     ((adapted1 - target[1])**2).mean())
        reference.backward()
        torch.testing.assert_close(shared, self.adapter.conv.weight.grad)

    def test_not_stale_across_steps(self):
        first_x, second_x = torch.randn(2, 3, 8, 8), torch.randn(2, 3, 8, 8)
        self._step(first_x)
        losses = self._step(second_x)
        self.assertEqual(len(self.calls), 4)  # two per step
        adapted = self.adapter(self.student(second_x)[0])
        torch.testing.assert_close(
            losses['loss_mse'],
            ((adapted - self.teacher(second_x)[0])**2).mean())
        # weights changed between steps (an optimiser step) are used too
        with torch.no_grad():
            self.adapter.conv.weight.mul_(2.)
        losses = self._step(second_x)
        adapted = self.adapter(self.student(second_x)[0])
        torch.testing.assert_close(
            losses['loss_mse'],
            ((adapted - self.teacher(second_x)[0])**2).mean())

    def test_memo_cleared_when_a_loss_raises(self):
        x = torch.randn(2, 3, 8, 8)
        loss = self.distiller.distill_losses['loss_l1']
        original = loss.forward
        loss.forward = lambda *a, **k: (_ for _ in ()).throw(
            RuntimeError('boom'))
        try:
            with self.assertRaisesRegex(RuntimeError, 'boom'):
                self._step(x)
        finally:
            loss.forward = original
        self.assertIsNone(self.distiller._connector_outputs)

    def test_get_record_outside_a_step_is_not_memoised(self):
        x = torch.randn(2, 3, 8, 8)
        self._step(x)
        record = dict(recorder='fpn', from_student=True, data_idx=0,
                      connector='adapter')
        first = self.distiller.get_record(**record)
        self.assertIsNot(self.distiller.get_record(**record), first)


if __name__ == '__main__':
    unittest.main()
