# Copyright (c) mmkd_dense contributors. All rights reserved.
import math
import unittest

import torch
import torch.nn.functional as F

import mmkd_dense  # noqa: F401
from mmkd_dense.models.losses import FGDLoss

from ..box_context import box_context as context


def fgd(alpha=0., beta=0., gamma=0., lam=0., area_mode='clipped',
        **kwargs):
    return FGDLoss(2, 2, temperature=0.5, alpha_fgd=alpha, beta_fgd=beta,
                   gamma_fgd=gamma, lambda_fgd=lam, area_mode=area_mode,
                   **kwargs)


class TestFGDLossValues(unittest.TestCase):
    """4x4 level of a 16x16 input (stride 4), C=2, teacher all ones (so both
    teacher attentions are exactly 1), student zeros.

    Box A [0,0,4,4] covers cells x,y in [0,1] (FGD floor/ceil, inclusive):
    4 cells, weight 1/4. Box B [4,0,16,16] covers x in [1,3], y in [0,3]:
    12 cells, weight 1/12 with ``area_mode='clipped'`` (used by these
    hand-computed cases unless stated); B-only cells: 10. Uncovered: x=0,
    y in {2,3}. With the default ``area_mode='reference'`` box B's size is
    its unclipped extent ``(ceil(4)-1+1) x (ceil(4)-0+1) = 4 x 5 = 20``
    cells (a column and a row past the map), weight 1/20.
    """

    def setUp(self):
        self.t = torch.ones(1, 2, 4, 4)
        self.s = torch.zeros(1, 2, 4, 4)
        self.ctx = context([[[0, 0, 4, 4], [4, 0, 16, 16]]])

    def test_foreground_term(self):
        # sum over cells of M_fg * sum_c (T - S)^2 = 2 * (4/4 + 10/12)
        loss = fgd(alpha=1.)(self.s, self.t, self.ctx)
        self.assertAlmostEqual(loss.item(), 2 * (1 + 10 / 12), places=5)

    def test_foreground_term_reference_area(self):
        # default area_mode: box B weighs 1/20 -> 2 * (4/4 + 10/20)
        loss = FGDLoss(2, 2, alpha_fgd=1., beta_fgd=0., gamma_fgd=0.,
                       lambda_fgd=0.)(self.s, self.t, self.ctx)
        self.assertAlmostEqual(loss.item(), 2 * (1 + 10 / 20), places=5)
        # the background does not depend on the box-size count
        loss = fgd(beta=1., area_mode='reference')(self.s, self.t, self.ctx)
        self.assertAlmostEqual(loss.item(), 2.0, places=5)

    def test_invalid_area_mode(self):
        with self.assertRaisesRegex(ValueError, 'area_mode.*reference'):
            FGDLoss(2, 2, area_mode='unclipped')

    def test_background_term(self):
        # two background cells with M_bg = 1/2 each, 2 channels
        loss = fgd(beta=1.)(self.s, self.t, self.ctx)
        self.assertAlmostEqual(loss.item(), 2.0, places=5)

    def test_attention_term_zero_for_uniform_maps(self):
        # |S| = 0 gives uniform student attention = teacher's uniform one
        loss = fgd(gamma=1.)(self.s, self.t, self.ctx)
        self.assertAlmostEqual(loss.item(), 0.0, places=6)

    def test_attention_term_hand_computed(self):
        # Student |S| = 1 on one cell and channel 0 only:
        # mean_c|S| = 0.5 at cell (0,0), else 0 -> a_s = 16*softmax(g/0.5)
        s = torch.zeros(1, 2, 4, 4)
        s[0, 0, 0, 0] = 1.0
        e = math.exp(1.0)  # exp(0.5 / 0.5)
        a_peak = 16 * e / (e + 15)
        a_rest = 16 / (e + 15)
        spatial = abs(a_peak - 1) + 15 * abs(a_rest - 1)
        # mean_hw|S| = (1/16, 0) -> a_c = 2*softmax((1/16)/0.5, 0)
        e_c = math.exp(0.125)
        channel = 2 * abs(2 * e_c / (e_c + 1) - 1)
        loss = fgd(gamma=1.)(s, self.t, self.ctx)
        self.assertAlmostEqual(loss.item(), spatial + channel, places=5)

    def test_global_term_at_init(self):
        # both GcBlocks are identity at init: sum((0 - 1)^2) over 32 values
        loss = fgd(lam=1.)(self.s, self.t, self.ctx)
        self.assertAlmostEqual(loss.item(), 32.0, places=4)

    def test_weights_combine_linearly(self):
        loss = fgd(alpha=1e-3, beta=5e-4, gamma=7., lam=2e-2)(
            self.s, self.t, self.ctx)
        expected = 1e-3 * 2 * (1 + 10 / 12) + 5e-4 * 2 + 2e-2 * 32
        self.assertAlmostEqual(loss.item(), expected, places=5)

    def test_batch_mean_over_images(self):
        # second image without boxes: all 16 cells background (1/16 each)
        ctx = context([[[0, 0, 4, 4], [4, 0, 16, 16]], []])
        s, t = self.s.repeat(2, 1, 1, 1), self.t.repeat(2, 1, 1, 1)
        fg = fgd(alpha=1.)(s, t, ctx).item()
        bg = fgd(beta=1.)(s, t, ctx).item()
        self.assertAlmostEqual(fg, 2 * (1 + 10 / 12) / 2, places=5)
        self.assertAlmostEqual(bg, (2.0 + 2.0) / 2, places=5)


class TestFGDLossProperties(unittest.TestCase):

    def test_zero_when_student_equals_teacher(self):
        torch.manual_seed(0)
        t = torch.randn(2, 2, 8, 8)
        ctx = context([[[1, 2, 20, 30]], []], input_shape=(32, 32))
        loss = FGDLoss(2, 2)(t.clone(), t, ctx)
        self.assertAlmostEqual(loss.item(), 0.0, places=6)

    def test_gradient_reaches_student_only(self):
        torch.manual_seed(0)
        s = torch.randn(2, 3, 8, 8, requires_grad=True)
        t = torch.randn(2, 2, 8, 8, requires_grad=True)
        ctx = context([[[1, 2, 20, 30]], []], input_shape=(32, 32))
        loss_fn = FGDLoss(3, 2)
        loss_fn(s, t, ctx).backward()
        self.assertIsNone(t.grad)
        self.assertGreater(s.grad.abs().sum().item(), 0)
        self.assertGreater(loss_fn.align.weight.grad.abs().sum().item(), 0)

    def test_empty_gt_batch(self):
        s, t = torch.zeros(2, 2, 4, 4), torch.ones(2, 2, 4, 4)
        ctx = context([[], []])
        self.assertAlmostEqual(fgd(alpha=1.)(s, t, ctx).item(), 0.0)
        # each image: background sums to 1 per channel -> 2 per image
        self.assertAlmostEqual(fgd(beta=1.)(s, t, ctx).item(), 2.0, places=5)

    def test_student_resized_to_teacher(self):
        s = torch.zeros(1, 2, 2, 2, requires_grad=True)
        t = torch.ones(1, 2, 4, 4)
        loss = fgd(beta=1.)(s, t, context([[]]))
        self.assertAlmostEqual(loss.item(), 2.0, places=5)
        loss.backward()
        self.assertIsNotNone(s.grad)

    def test_channel_mismatch_error_names_fix(self):
        with self.assertRaisesRegex(ValueError, 'student_channels'):
            FGDLoss(2, 2)(torch.zeros(1, 3, 4, 4), torch.zeros(1, 2, 4, 4),
                          context([[]]))


def reference_fgd(loss_fn, preds_S, preds_T, gt_bboxes, img_shape):
    """The FGD authors' formulas (yzd-v/FGD ``mmdet/distillation/losses/
    fgd.py``, ``FeatureLoss.forward``), written out with their per-image,
    per-box loop: box coordinates scaled by ``W / img_w`` and
    ``H / img_h``, ``wmin = floor(x1)``, ``wmax = ceil(x2)`` (same for h),
    the box area ``1 / ((hmax + 1 - hmin) * (wmax + 1 - wmin))`` from the
    *unclipped* extent, and the mask slice ``[hmin:hmax+1, wmin:wmax+1]``
    (clipped by slicing). The GcBlock parameters are taken from
    ``loss_fn``."""
    n, c, h, w = preds_S.shape
    temp = loss_fn.temperature

    def attention(preds):
        value = preds.abs()
        fea_map = value.mean(dim=1, keepdim=True)
        s_att = (h * w * F.softmax((fea_map / temp).view(n, -1),
                                   dim=1)).view(n, h, w)
        c_att = c * F.softmax(value.mean(dim=2).mean(dim=2) / temp, dim=1)
        return s_att, c_att

    s_att_t, c_att_t = attention(preds_T)
    s_att_s, c_att_s = attention(preds_S)
    mask_fg = torch.zeros_like(s_att_t)
    mask_bg = torch.ones_like(s_att_t)
    for i in range(n):
        boxes = gt_bboxes[i]
        wmin = torch.floor(boxes[:, 0] / img_shape[1] * w).int()
        wmax = torch.ceil(boxes[:, 2] / img_shape[1] * w).int()
        hmin = torch.floor(boxes[:, 1] / img_shape[0] * h).int()
        hmax = torch.ceil(boxes[:, 3] / img_shape[0] * h).int()
        area = 1.0 / (hmax + 1 - hmin) / (wmax + 1 - wmin)
        for j in range(len(boxes)):
            region = mask_fg[i][hmin[j]:hmax[j] + 1, wmin[j]:wmax[j] + 1]
            mask_fg[i][hmin[j]:hmax[j] + 1, wmin[j]:wmax[j] + 1] = \
                torch.maximum(region, area[j])
        mask_bg[i] = torch.where(mask_fg[i] > 0, 0., 1.)
        if torch.sum(mask_bg[i]):
            mask_bg[i] /= torch.sum(mask_bg[i])

    weight = torch.sqrt(s_att_t[:, None]) * torch.sqrt(c_att_t[:, :, None,
                                                               None])
    fea_t, fea_s = preds_T * weight, preds_S * weight
    fg_t, fg_s = (f * torch.sqrt(mask_fg[:, None]) for f in (fea_t, fea_s))
    bg_t, bg_s = (f * torch.sqrt(mask_bg[:, None]) for f in (fea_t, fea_s))
    fg_loss = ((fg_s - fg_t)**2).sum() / n
    bg_loss = ((bg_s - bg_t)**2).sum() / n
    mask_loss = ((c_att_s - c_att_t).abs().sum() / n +
                 (s_att_s - s_att_t).abs().sum() / n)

    def context(x, block):  # spatial_pool + channel_add_conv
        mask = F.softmax(block.conv_mask(x).view(n, 1, h * w), dim=2)
        ctx = torch.matmul(x.view(n, 1, c, h * w), mask.unsqueeze(-1))
        return x + block.channel_add(ctx.view(n, c, 1, 1))

    rela_loss = ((context(preds_S, loss_fn.context_student) -
                  context(preds_T, loss_fn.context_teacher))**2).sum() / n
    return (loss_fn.alpha_fgd * fg_loss + loss_fn.beta_fgd * bg_loss +
            loss_fn.gamma_fgd * mask_loss + loss_fn.lambda_fgd * rela_loss)


class TestFGDMatchesReferenceCode(unittest.TestCase):
    """FGDLoss (default ``area_mode='reference'``) against the authors'
    formulas on boxes touching the right and bottom borders.

    64x80 input, 8x10 level (stride 8), no padding (so the reference's
    ``img_shape`` frame is ours). Image 0: a box to the right border
    (x2/8 = 10: columns 6..10, one past the map; rows 2..6; reference area
    25 cells, clipped 20), a box to the bottom border and an interior box
    overlapping the first; image 1: a box in the bottom-right corner and an
    interior one.
    """

    def setUp(self):
        gen = torch.Generator().manual_seed(11)
        self.s = torch.randn(2, 4, 8, 10, generator=gen) * 2
        self.t = torch.randn(2, 4, 8, 10, generator=gen) * 2
        self.boxes = [[[50., 20., 80., 44.], [3.5, 40., 30., 64.],
                       [33., 9., 57., 30.]],
                      [[60., 50., 80., 64.], [10., 10., 30., 30.]]]
        self.ctx = context(self.boxes, input_shape=(64, 80))
        # right-border box of image 0 on the map: rows 2..6, column 9
        self.border = [(0, r, 9) for r in range(2, 7)] + \
            [(1, r, c) for r in range(6, 8) for c in range(7, 10)]

    def _loss_fn(self, area_mode='reference'):
        torch.manual_seed(3)
        loss_fn = FGDLoss(4, 4, temperature=0.5, alpha_fgd=1e-3, beta_fgd=5e-4,
                          gamma_fgd=5e-4, lambda_fgd=5e-6,
                          area_mode=area_mode)
        for block in (loss_fn.context_student, loss_fn.context_teacher):
            torch.nn.init.normal_(block.channel_add[-1].weight, std=0.1)
        return loss_fn

    def _value_and_grad(self, fn):
        s = self.s.clone().requires_grad_()
        value = fn(s)
        (grad, ) = torch.autograd.grad(value, s)
        return value.item(), grad

    def test_loss_and_border_gradient(self):
        loss_fn = self._loss_fn()
        boxes = [torch.tensor(b) for b in self.boxes]
        ref, ref_grad = self._value_and_grad(
            lambda s: reference_fgd(loss_fn, s, self.t, boxes, (64, 80)))
        ours, grad = self._value_and_grad(
            lambda s: loss_fn(s, self.t, self.ctx))
        self.assertAlmostEqual(ours, ref, delta=1e-6 * abs(ref))
        self.assertTrue(torch.allclose(grad, ref_grad, rtol=1e-5,
                                       atol=1e-9))
        for n, r, c in self.border:
            self.assertTrue(torch.allclose(grad[n, :, r, c],
                                           ref_grad[n, :, r, c],
                                           rtol=1e-5, atol=1e-9))

        # the clipped count is a different loss: the test would notice
        clipped, clipped_grad = self._value_and_grad(
            lambda s: self._loss_fn('clipped')(s, self.t, self.ctx))
        self.assertGreater(abs(clipped - ref) / ref, 1e-3)
        n, r, c = self.border[0]
        rel = ((clipped_grad[n, :, r, c] - ref_grad[n, :, r, c]).norm() /
               ref_grad[n, :, r, c].norm())
        self.assertGreater(rel.item(), 0.05)

    def test_foreground_mask_matches_reference_loop(self):
        from mmkd_dense.models.utils import fgd_masks
        fg, _ = fgd_masks(self.ctx, (8, 10), torch.device('cpu'),
                          'reference')
        # right-border box: 1 / (5 rows x 5 columns); the overlapping
        # interior box [33,9,57,30] covers x 4..8, y 1..4 (20 cells)
        self.assertAlmostEqual(fg[0, 5, 9].item(), 1 / 25, places=7)
        self.assertAlmostEqual(fg[0, 3, 6].item(), 1 / 20, places=7)
        # corner box: columns 7..10 x rows 6..8 -> 12 cells
        self.assertAlmostEqual(fg[1, 7, 9].item(), 1 / 12, places=7)
        clipped, _ = fgd_masks(self.ctx, (8, 10), torch.device('cpu'),
                               'clipped')
        self.assertAlmostEqual(clipped[0, 5, 9].item(), 1 / 20, places=7)
        self.assertAlmostEqual(clipped[1, 7, 9].item(), 1 / 6, places=7)
        self.assertTrue(torch.equal(fg > 0, clipped > 0))


if __name__ == '__main__':
    unittest.main()
