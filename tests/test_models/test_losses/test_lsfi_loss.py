# Copyright (c) mmkd_dense contributors. All rights reserved.
"""LSFILoss: hand-computed values, FGD equivalence for K={1}, gradient
isolation, empty GT, spatial resizing and channel checks."""
import math
import unittest

import torch
import torch.nn.functional as F

import mmkd_dense  # noqa: F401
from mmkd_dense.models.losses import FGDLoss, LSFILoss
from mmkd_dense.registry import MODELS

from ..box_context import box_context as context


def lsfi(alpha=0., beta=0., gamma=0., **kwargs):
    return LSFILoss(temperature=0.5, alpha=alpha, beta=beta, gamma=gamma,
                    **kwargs)


class TestLSFIHandComputed(unittest.TestCase):
    """Case 1 (masks): 4x4 level of a 16x16 input, C=2, teacher all ones
    (every attention is exactly 1 at every pool size), student zeros.
    Box A [0,0,4,4] covers cells x,y in [0,1] (4 cells, M_fg=1/4); box B
    [4,0,16,16] covers x in [1,3], y in [0,3] (12 cells, 1/12; 10 of them
    B-only). Uncovered: x=0, y in {2,3} (M_bg=1/2 each).

    Case 2 (attentions): one image without GT, 1x2 map, C=2, tau=0.5,
    ``T[c0] = [0, ln 3]``, ``T[c1] = [0, 0]``, student zeros:
    ``g = [0, ln3/2]`` -> ``a_s^{k=1} = 2 softmax([0, ln 3]) = [1/2, 3/2]``;
    a 3x3 or 5x5 pool (no padding counted) averages both cells -> uniform
    ``[1, 1]``; multi-scale ``a_s = [5/6, 7/6]``.
    ``mean_hw |T| / tau = [ln 3, 0]`` -> ``a_c = [3/2, 1/2]``.
    The student's attentions are all 1.
    """

    def setUp(self):
        self.t = torch.ones(1, 2, 4, 4)
        self.s = torch.zeros(1, 2, 4, 4)
        self.ctx = context([[[0, 0, 4, 4], [4, 0, 16, 16]]])
        ln3 = math.log(3.0)
        self.t2 = torch.tensor([[[[0., ln3]], [[0., 0.]]]])
        self.s2 = torch.zeros(1, 2, 1, 2)
        self.ctx2 = context([[]], input_shape=(8, 16))

    def test_foreground_background_terms(self):
        # sum_c (T-S)^2 = 2 per cell; fg: 4 * 1/4 + 10 * 1/12; bg: 2 * 1/2
        loss = lsfi(alpha=1.)(self.s, self.t, self.ctx)
        self.assertAlmostEqual(loss.item(), 2 * (1 + 10 / 12), places=5)
        loss = lsfi(beta=1.)(self.s, self.t, self.ctx)
        self.assertAlmostEqual(loss.item(), 2.0, places=5)
        # defaults alpha=1e-3, beta=5e-4, gamma=5e-4 (uniform attentions
        # on both sides, so no attention term)
        loss = LSFILoss()(self.s, self.t, self.ctx)
        self.assertAlmostEqual(loss.item(),
                               1e-3 * 2 * (1 + 10 / 12) + 5e-4 * 2.0,
                               places=7)

    def test_attention_transfer_multi_scale(self):
        # |a_c^T - 1| = 1/2 + 1/2; |a_s^T - 1| = 1/6 + 1/6
        loss = lsfi(gamma=1.)(self.s2, self.t2, self.ctx2)
        self.assertAlmostEqual(loss.item(), 1.0 + 1.0 / 3.0, places=5)

    def test_attention_transfer_fgd_mode(self):
        # K={1}: |a_s^T - 1| = 1/2 + 1/2
        for loss_fn in (lsfi(gamma=1., pool_sizes=(1, )),
                        lsfi(gamma=1., multi_scale=False)):
            loss = loss_fn(self.s2, self.t2, self.ctx2)
            self.assertAlmostEqual(loss.item(), 2.0, places=5)

    def test_imitation_weighted_by_attentions_no_gt(self):
        # only (c0, cell 1) differs: (ln 3)^2, weight M_bg a_s a_c =
        # 1/2 * 7/6 * 3/2 (multi-scale) or 1/2 * 3/2 * 3/2 (K={1})
        ln3_sq = math.log(3.0)**2
        loss = lsfi(beta=1.)(self.s2, self.t2, self.ctx2)
        self.assertAlmostEqual(loss.item(), 0.5 * 7 / 6 * 1.5 * ln3_sq,
                               places=5)
        loss = lsfi(beta=1., pool_sizes=(1, ))(self.s2, self.t2, self.ctx2)
        self.assertAlmostEqual(loss.item(), 0.5 * 1.5 * 1.5 * ln3_sq,
                               places=5)
        # no GT: the foreground weight never contributes
        loss = lsfi(alpha=1.)(self.s2, self.t2, self.ctx2)
        self.assertEqual(loss.item(), 0.0)

    def test_attentions_method(self):
        a_s, a_c = LSFILoss(temperature=0.5).attentions(self.t2)
        self.assertTrue(torch.allclose(a_s, torch.tensor([[[5 / 6, 7 / 6]]]),
                                       atol=1e-6))
        self.assertTrue(torch.allclose(a_c, torch.tensor([[1.5, 0.5]]),
                                       atol=1e-6))

    def test_loss_weight(self):
        base = LSFILoss()(self.s, self.t, self.ctx)
        scaled = LSFILoss(loss_weight=3.)(self.s, self.t, self.ctx)
        self.assertAlmostEqual(scaled.item(), 3 * base.item(), places=7)


class TestLSFIProperties(unittest.TestCase):

    def setUp(self):
        gen = torch.Generator().manual_seed(0)
        self.s = torch.randn(2, 8, 10, 12, generator=gen)
        self.t = torch.randn(2, 8, 10, 12, generator=gen)
        # image 0 has two boxes, image 1 none (80x96 input, stride 8)
        self.ctx = context([[[4, 4, 40, 30], [20, 10, 60, 70]], []],
                           input_shape=(80, 96))

    def test_equals_fgd_without_global_for_single_scale(self):
        for temp, alpha, beta, gamma in ((0.5, 1e-3, 5e-4, 5e-4),
                                         (0.8, 1.6e-3, 8e-4, 8e-4)):
            ours = LSFILoss(temperature=temp, alpha=alpha, beta=beta,
                            gamma=gamma, pool_sizes=(1, ))(self.s, self.t,
                                                           self.ctx)
            fgd = FGDLoss(8, 8, temperature=temp, alpha_fgd=alpha,
                          beta_fgd=beta, gamma_fgd=gamma,
                          with_global=False)(self.s, self.t, self.ctx)
            self.assertAlmostEqual(ours.item(), fgd.item(), places=6)
        # the multi-scale attention really differs from FGD
        multi = LSFILoss()(self.s, self.t, self.ctx)
        self.assertGreater(abs(multi.item() - fgd.item()), 1e-6)

    def test_matches_explicit_formula(self):
        """Independent re-implementation of methods.md Sec. 1 step 2."""
        temp, alpha, beta, gamma = 0.5, 1e-3, 5e-4, 5e-4
        from mmkd_dense.models.utils import fgd_masks

        def att(x):
            g = x.abs().mean(1, keepdim=True)
            h, w = x.shape[-2:]
            maps = []
            for k in (1, 3, 5):
                pooled = F.avg_pool2d(g, k, 1, k // 2,
                                      count_include_pad=False)
                maps.append(h * w * F.softmax(
                    pooled.flatten(1) / temp, 1).view(-1, h, w))
            a_s = sum(maps) / 3
            a_c = x.shape[1] * F.softmax(x.abs().mean((2, 3)) / temp, 1)
            return a_s, a_c

        fg, bg = fgd_masks(self.ctx, (10, 12), torch.device('cpu'))
        s = self.s.double().requires_grad_()
        t = self.t.double()
        a_s, a_c = att(t)
        b_s, b_c = att(s)
        fi = ((alpha * fg + beta * bg)[:, None] * a_s[:, None] *
              a_c[:, :, None, None] * (t - s)**2).sum() / 2
        at = gamma * ((a_c - b_c).abs().sum() + (a_s - b_s).abs().sum()) / 2
        (grad_ref, ) = torch.autograd.grad(fi + at, s)
        ours = LSFILoss()(s, t, self.ctx)
        (grad_ours, ) = torch.autograd.grad(ours, s)
        self.assertAlmostEqual(ours.item(), (fi + at).item(), places=10)
        self.assertTrue(torch.allclose(grad_ours, grad_ref, atol=1e-12))

    def test_gradcheck(self):
        gen = torch.Generator().manual_seed(4)
        s = torch.randn(2, 3, 4, 5, generator=gen, dtype=torch.float64,
                        requires_grad=True)
        t = torch.randn(2, 3, 4, 5, generator=gen, dtype=torch.float64)
        ctx = context([[[0, 0, 8, 8]], []], input_shape=(16, 20))
        loss = LSFILoss(alpha=0.3, beta=0.2, gamma=0.1)
        self.assertTrue(
            torch.autograd.gradcheck(lambda x: loss(x, t, ctx), (s, )))

    def test_zero_when_student_equals_teacher(self):
        loss = LSFILoss()(self.t.clone(), self.t, self.ctx)
        self.assertEqual(loss.item(), 0.0)

    def test_gradients_reach_student_only(self):
        s = self.s.clone().requires_grad_()
        t = self.t.clone().requires_grad_()
        LSFILoss()(s, t, self.ctx).backward()
        self.assertIsNone(t.grad)
        self.assertIsNotNone(s.grad)
        self.assertGreater(s.grad.abs().sum().item(), 0)
        self.assertTrue(torch.isfinite(s.grad).all())

    def test_all_images_without_gt(self):
        ctx = context([[], []], input_shape=(80, 96))
        loss_fg = lsfi(alpha=1.)(self.s, self.t, ctx)
        self.assertEqual(loss_fg.item(), 0.0)
        loss = LSFILoss()(self.s, self.t, ctx)
        self.assertTrue(torch.isfinite(loss))
        self.assertGreater(loss.item(), 0.0)

    def test_student_resized_to_teacher(self):
        small = self.s[:, :, :5, :6].clone()
        resized = F.interpolate(small, size=(10, 12), mode='bilinear',
                                align_corners=False)
        loss_fn = LSFILoss()
        self.assertAlmostEqual(
            loss_fn(small, self.t, self.ctx).item(),
            loss_fn(resized, self.t, self.ctx).item(), places=6)

    def test_channel_mismatch_raises(self):
        with self.assertRaisesRegex(ValueError, 'connector'):
            LSFILoss()(self.s[:, :4], self.t, self.ctx)
        with self.assertRaisesRegex(ValueError, 'channels=16'):
            LSFILoss(channels=16)(self.s, self.t, self.ctx)

    def test_invalid_arguments(self):
        with self.assertRaisesRegex(ValueError, 'pool_sizes'):
            LSFILoss(pool_sizes=(1, 2))
        with self.assertRaisesRegex(ValueError, 'pool_sizes'):
            LSFILoss(pool_sizes=())
        with self.assertRaisesRegex(ValueError, 'temperature'):
            LSFILoss(temperature=0.)
        with self.assertRaisesRegex(ValueError, 'area_mode'):
            LSFILoss(area_mode='unclipped')

    def test_area_mode_on_border_boxes(self):
        """LSFI keeps the clipped box-size count by default; with
        ``area_mode`` set alike it equals FGD (no global term) also for a
        box reaching the right/bottom border, where the counts differ."""
        ctx = context([[[40, 30, 96, 80]], [[0, 0, 24, 16]]],
                      input_shape=(80, 96))
        kwargs = dict(temperature=0.5, alpha=1e-3, beta=5e-4, gamma=5e-4)
        fgd_kwargs = dict(temperature=0.5, alpha_fgd=1e-3, beta_fgd=5e-4,
                          gamma_fgd=5e-4, with_global=False)
        values = {}
        for mode in ('clipped', 'reference'):
            values[mode] = LSFILoss(pool_sizes=(1, ), area_mode=mode,
                                    **kwargs)(self.s, self.t, ctx)
            fgd = FGDLoss(8, 8, area_mode=mode, **fgd_kwargs)(self.s,
                                                              self.t, ctx)
            self.assertAlmostEqual(values[mode].item(), fgd.item(),
                                   places=6)
        default = LSFILoss(pool_sizes=(1, ), **kwargs)(self.s, self.t, ctx)
        self.assertEqual(default.item(), values['clipped'].item())
        self.assertGreater(abs(values['clipped'] - values['reference']),
                           1e-6)

    def test_registered(self):
        loss = MODELS.build(dict(type='mmkd_dense.LSFILoss', alpha=2e-3))
        self.assertIsInstance(loss, LSFILoss)
        self.assertEqual(loss.pool_sizes, (1, 3, 5))


if __name__ == '__main__':
    unittest.main()
