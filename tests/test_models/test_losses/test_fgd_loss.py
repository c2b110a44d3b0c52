# Copyright (c) mmkd_dense contributors. All rights reserved.
import math
import unittest

import torch

import mmkd_dense  # noqa: F401
from mmkd_dense.models.losses import FGDLoss

from ..box_context import box_context as context


def fgd(alpha=0., beta=0., gamma=0., lam=0., **kwargs):
    return FGDLoss(2, 2, temp=0.5, alpha_fgd=alpha, beta_fgd=beta,
                   gamma_fgd=gamma, lambda_fgd=lam, **kwargs)


class TestFGDLossValues(unittest.TestCase):
    """4x4 level of a 16x16 input (stride 4), C=2, teacher all ones (so both
    teacher attentions are exactly 1), student zeros.

    Box A [0,0,4,4] covers cells x,y in [0,1] (FGD floor/ceil, inclusive):
    4 cells, weight 1/4. Box B [4,0,16,16] covers x in [1,3], y in [0,3]:
    12 cells, weight 1/12; B-only cells: 10. Uncovered: x=0, y in {2,3}.
    """

    def setUp(self):
        self.t = torch.ones(1, 2, 4, 4)
        self.s = torch.zeros(1, 2, 4, 4)
        self.ctx = context([[[0, 0, 4, 4], [4, 0, 16, 16]]])

    def test_foreground_term(self):
        # sum over cells of M_fg * sum_c (T - S)^2 = 2 * (4/4 + 10/12)
        loss = fgd(alpha=1.)(self.s, self.t, self.ctx)
        self.assertAlmostEqual(loss.item(), 2 * (1 + 10 / 12), places=5)

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


if __name__ == '__main__':
    unittest.main()
