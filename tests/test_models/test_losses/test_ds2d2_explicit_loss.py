# Copyright (c) mmkd_dense contributors. All rights reserved.
"""DS2D2 explicit stream (Haar LL / high bands, DISW) and DISWFeatureLoss."""
import unittest

import numpy as np
import pywt
import torch

import mmkd_dense  # noqa: F401
from mmkd_dense.models.losses import DISWFeatureLoss, DS2D2ExplicitLoss
from mmkd_dense.models.utils.disw import disw_map_loop
from mmkd_dense.registry import MODELS

from ..box_context import box_context as context


def identity_loss(channels=1, **kwargs):
    loss = DS2D2ExplicitLoss(channels, channels, **kwargs)
    with torch.no_grad():
        loss.adapter.weight.copy_(torch.eye(channels).view(
            channels, channels, 1, 1))
    return loss


def block_pattern(h, w):
    """Each 2x2 block [[1, 0], [0, 0]]: LL = 0.5, every band 0.5."""
    x = torch.zeros(1, 1, h, w)
    x[..., ::2, ::2] = 1.0
    return x


class TestDS2D2ExplicitValues(unittest.TestCase):

    def test_hand_computed_two_levels(self):
        """Teacher 0; student blocks [[1,0],[0,0]] -> |diff| 0.5 in LL and
        in each band. Box [0,0,0,0] covers 1 cell of each map (+1).

        Level 4x4 (map 2x2, W = [[2,1],[1,1]]): L_LL = mean(W) * 0.25 =
        0.3125 = L_HF. Level 2x2 (map 1x1, W = 2): L_LL = L_HF = 0.5.
        Sum 0.8125 each; loss = 2 * 0.8125 + 3 * 0.8125 = 4.0625.
        """
        loss = identity_loss(ll_weight=2.0, hf_weight=3.0)
        ctx = context([[[0, 0, 0, 0]]])
        preds_s = [block_pattern(4, 4), block_pattern(2, 2)]
        preds_t = [torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 2, 2)]
        ll, hf = loss.level_losses(preds_s, preds_t, ctx)
        self.assertAlmostEqual(float(ll), 0.8125, places=6)
        self.assertAlmostEqual(float(hf), 0.8125, places=6)
        self.assertAlmostEqual(float(loss(preds_s, preds_t, ctx)), 4.0625,
                               places=5)

    def test_uniform_weight_option(self):
        loss = identity_loss(ll_weight=1.0, hf_weight=0.0,
                             weight_type='none')
        ctx = context([[[0, 0, 0, 0]]])
        value = loss([block_pattern(4, 4)], [torch.zeros(1, 1, 4, 4)], ctx)
        self.assertAlmostEqual(float(value), 0.25, places=6)

    def test_zero_when_adapter_output_equals_teacher(self):
        gen = torch.Generator().manual_seed(0)
        loss = DS2D2ExplicitLoss(4, 4, ll_weight=1.0, hf_weight=1.0)
        with torch.no_grad():
            loss.adapter.weight.copy_(2 * torch.eye(4).view(4, 4, 1, 1))
        teacher = [torch.randn(2, 4, 8, 10, generator=gen),
                   torch.randn(2, 4, 3, 5, generator=gen)]
        student = [t / 2 for t in teacher]  # adapter(student) == teacher
        ctx = context([[[1, 2, 30, 20]], []], input_shape=(32, 40))
        self.assertEqual(float(loss(student, teacher, ctx)), 0.0)

    def test_matches_reference_formula(self):
        """Same numbers as the reference's formula (pywt Haar, loop DISW in
        float32) on random inputs with odd sizes and an empty image."""
        gen = torch.Generator().manual_seed(3)
        loss = DS2D2ExplicitLoss(3, 3, ll_weight=0.7, hf_weight=0.2)
        boxes = [[[3.5, 4.0, 20.0, 17.2], [0, 0, 63, 47]], []]
        ctx = context(boxes, input_shape=(48, 64))
        student = [torch.randn(2, 3, 12, 16, generator=gen),
                   torch.randn(2, 3, 3, 4, generator=gen),
                   torch.randn(2, 3, 1, 1, generator=gen)]
        teacher = [torch.randn_like(s) for s in student]
        flat = torch.tensor(boxes[0], dtype=torch.float32)
        index = torch.zeros(2, dtype=torch.long)
        exp_ll = exp_hf = 0.0
        for s, t in zip(student, teacher):
            adapted = torch.nn.functional.conv2d(
                s, loss.adapter.weight).detach().double().numpy()
            tt = t.double().numpy()
            lows, highs = [], []
            for arr in (adapted, tt):
                res = [[pywt.dwt2(arr[n, c], 'haar', mode='zero')
                        for c in range(3)] for n in range(2)]
                lows.append(np.array([[r[0] for r in row] for row in res]))
                highs.append(np.array([[np.stack(r[1]) for r in row]
                                       for row in res]))
            hw = lows[0].shape[-2:]
            weight = disw_map_loop(flat, index, 2, (48, 64), hw).double()
            weight = weight.numpy()
            exp_ll += float(np.mean(weight * (lows[0] - lows[1])**2))
            exp_hf += float(
                np.mean(weight[:, :, None] * (highs[0] - highs[1])**2))
        value = loss(student, teacher, ctx)
        self.assertAlmostEqual(float(value), 0.7 * exp_ll + 0.2 * exp_hf,
                               places=5)

    def test_gradients_reach_student_and_adapter_only(self):
        gen = torch.Generator().manual_seed(1)
        loss = DS2D2ExplicitLoss(4, 4, ll_weight=1.0, hf_weight=1.0)
        student = torch.randn(2, 4, 6, 6, generator=gen, requires_grad=True)
        teacher = torch.randn(2, 4, 6, 6, generator=gen, requires_grad=True)
        value = loss((student, ), (teacher, ), context([[[0, 0, 8, 8]], []]))
        value.backward()
        self.assertGreater(float(student.grad.abs().sum()), 0)
        self.assertGreater(float(loss.adapter.weight.grad.abs().sum()), 0)
        self.assertIsNone(teacher.grad)

    def test_shared_adapter_and_errors(self):
        loss = MODELS.build(dict(type='mmkd_dense.DS2D2ExplicitLoss'))
        self.assertEqual(tuple(loss.adapter.weight.shape), (256, 256, 1, 1))
        self.assertIsNone(loss.adapter.bias)
        self.assertEqual(len(list(loss.parameters())), 1)
        with self.assertRaises(ValueError):
            loss([torch.zeros(1, 256, 4, 4)] * 2, [torch.zeros(1, 256, 4, 4)],
                 context([[]]))
        with self.assertRaises(ValueError):
            loss([torch.zeros(1, 256, 4, 4)], [torch.zeros(1, 256, 2, 2)],
                 context([[]]))
        with self.assertRaises(ValueError):
            DS2D2ExplicitLoss(weight_type='fgd')


class TestDISWFeatureLoss(unittest.TestCase):

    def test_hand_computed_mse(self):
        # 4x4 map of 16x16, box [0,0,4,4] -> 4 cells +1/4: mean(W) = 17/16
        ctx = context([[[0, 0, 4, 4]]])
        loss = DISWFeatureLoss(loss_weight=2.0)
        value = loss(torch.ones(1, 3, 4, 4), torch.zeros(1, 3, 4, 4), ctx)
        self.assertAlmostEqual(float(value), 2.0 * 17 / 16, places=6)
        l1 = DISWFeatureLoss(distance='l1', reduction='batch_sum')
        value = l1(torch.full((1, 1, 4, 4), -3.0), torch.zeros(1, 1, 4, 4),
                   ctx)
        self.assertAlmostEqual(float(value), 3.0 * 17, places=5)

    def test_zero_when_equal_and_gradients(self):
        ctx = context([[[0, 0, 8, 8]], []])
        loss = DISWFeatureLoss(student_channels=2, teacher_channels=3)
        student = torch.randn(2, 2, 4, 4, requires_grad=True)
        teacher = torch.randn(2, 3, 4, 4)
        loss(student, teacher, ctx).backward()
        self.assertGreater(float(student.grad.abs().sum()), 0)
        same = DISWFeatureLoss()
        self.assertEqual(float(same(teacher, teacher, ctx)), 0.0)
        with self.assertRaises(ValueError):
            same(student, teacher, ctx)

    def test_registered_for_configs(self):
        loss = MODELS.build(
            dict(type='mmkd_dense.DISWFeatureLoss', distance='smooth_l1'))
        self.assertIsInstance(loss, DISWFeatureLoss)


if __name__ == '__main__':
    unittest.main()
