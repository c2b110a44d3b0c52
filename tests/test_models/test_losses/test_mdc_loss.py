# Copyright (c) mmkd_dense contributors. All rights reserved.
"""MDCLoss: hand-computed Pearson and SSIM values, equality with mmrazor's
PKDLoss and with a plain-autograd reference (values and gradients),
invariances, gradient isolation and size handling."""
import math
import unittest

import torch
import torch.nn.functional as F

import mmkd_dense  # noqa: F401  (compat shims before mmrazor.models)
from mmkd_dense.models.losses import MDCLoss
from mmkd_dense.models.losses.mdc_loss import MDCLossFunction
from mmkd_dense.registry import MODELS
from mmrazor.models.losses import PKDLoss  # noqa: E402,I001


def reference_loss(loss: MDCLoss, preds_S, preds_T):
    """Plain-autograd MDC-KD (methods.md Sec. 1 step 3)."""
    preds_T = preds_T.detach()
    if preds_S.shape[-2:] != preds_T.shape[-2:]:
        preds_S = F.interpolate(preds_S, size=preds_T.shape[-2:],
                                mode='bilinear', align_corners=False)
    z_s, z_t = loss.standardize(preds_S), loss.standardize(preds_T)
    pcc = 0.5 * F.mse_loss(z_s, z_t)
    x, y = (z_s, z_t) if loss.ssim_on_standardized else (preds_S, preds_T)
    ssim = ((1 - loss.ssim_map(x, y)) / 2).mean()
    return loss.global_weight * pcc + loss.local_weight * ssim


def gaussian_center_weight(size=5, sigma=1.5):
    g = [math.exp(-(i - size // 2)**2 / (2 * sigma**2)) for i in range(size)]
    return (g[size // 2] / sum(g))**2


class TestMDCHandComputed(unittest.TestCase):

    def test_pearson_term(self):
        # x = [1,2,3,4], y = [1,2,4,3]: r = 4 / 5 = 0.8; with unbiased std
        # (PKD) 1/2 mean((z_x - z_y)^2) = (n-1)/n (1 - r) = 0.75 * 0.2
        s = torch.tensor([1., 2., 3., 4.]).view(1, 1, 1, 4)
        t = torch.tensor([1., 2., 4., 3.]).view(1, 1, 1, 4)
        loss = MDCLoss(global_weight=1., local_weight=0.)(s, t)
        self.assertAlmostEqual(loss.item(), 0.15, places=5)
        pcc, ssim = MDCLoss(local_weight=0.).terms(s, t)
        self.assertAlmostEqual(pcc.item(), 0.15, places=5)
        self.assertEqual(ssim.item(), 0.0)

    def test_gaussian_window(self):
        loss = MDCLoss()
        window = loss.window
        self.assertEqual(tuple(window.shape), (5, 5))
        self.assertAlmostEqual(window.sum().item(), 1.0, places=6)
        self.assertAlmostEqual(window[2, 2].item(), gaussian_center_weight(),
                               places=7)
        self.assertEqual(window.argmax().item(), 12)

    def test_ssim_single_pixel(self):
        # 1x1 maps x=a, y=b, zero padding: with w the window centre,
        # mu = w a, sigma_x^2 = w(1-w) a^2, sigma_xy = w(1-w) ab, so
        # SSIM = (2w^2ab + C1)(2w(1-w)ab + C2) /
        #        ((w^2(a^2+b^2) + C1)(w(1-w)(a^2+b^2) + C2))
        a, b, c1, c2 = 0.7, -0.3, 1e-4, 9e-4
        w = gaussian_center_weight()
        ssim = ((2 * w * w * a * b + c1) * (2 * w * (1 - w) * a * b + c2) /
                ((w * w * (a * a + b * b) + c1) *
                 (w * (1 - w) * (a * a + b * b) + c2)))
        x = torch.full((1, 1, 1, 1), a)
        y = torch.full((1, 1, 1, 1), b)
        loss = MDCLoss(ssim_on_standardized=False)
        self.assertAlmostEqual(loss.ssim_map(x, y).item(), ssim, places=5)
        fused = MDCLoss(global_weight=0., local_weight=1.,
                        ssim_on_standardized=False)(x, y)
        self.assertAlmostEqual(fused.item(), (1 - ssim) / 2, places=5)

    def test_combined_weights(self):
        gen = torch.Generator().manual_seed(1)
        s = torch.randn(2, 3, 6, 7, generator=gen)
        t = torch.randn(2, 3, 6, 7, generator=gen)
        pcc, ssim = MDCLoss().terms(s, t)
        self.assertAlmostEqual(
            MDCLoss(global_weight=2., local_weight=10.)(s, t).item(),
            2 * pcc.item() + 10 * ssim.item(), places=5)
        self.assertAlmostEqual(MDCLoss()(s, t).item(),
                               6 * pcc.item() + 6 * ssim.item(), places=5)
        self.assertGreater(ssim.item(), 0.)
        self.assertLess(ssim.item(), 1.)


class TestMDCProperties(unittest.TestCase):

    def setUp(self):
        gen = torch.Generator().manual_seed(0)
        self.s = torch.randn(2, 6, 9, 11, generator=gen)
        self.t = torch.randn(2, 6, 9, 11, generator=gen) + 0.5 * self.s

    def test_equals_mmrazor_pkd(self):
        ours = MDCLoss(global_weight=1., local_weight=0.)(self.s, self.t)
        pkd = PKDLoss(loss_weight=1.)(self.s, self.t)
        self.assertAlmostEqual(ours.item(), pkd.item(), places=5)

    def test_zero_and_ssim_one_when_equal(self):
        loss = MDCLoss()
        self.assertEqual(loss(self.t.clone(), self.t).item(), 0.0)
        pcc, ssim = loss.terms(self.t.clone(), self.t)
        self.assertEqual(pcc.item(), 0.0)
        self.assertAlmostEqual(ssim.item(), 0.0, places=7)
        z = loss.standardize(self.t)
        ssim_map = loss.ssim_map(z, z.clone())
        self.assertTrue(torch.allclose(ssim_map, torch.ones_like(ssim_map),
                                       atol=1e-6))

    def test_pearson_invariant_to_channel_affine(self):
        scale = torch.tensor([0.5, 2., 3., 0.1, 7., 1.]).view(1, 6, 1, 1)
        shift = torch.tensor([1., -2., 0., 5., 0.3, -1.]).view(1, 6, 1, 1)
        moved = self.s * scale + shift
        pearson = MDCLoss(global_weight=1., local_weight=0.)
        self.assertAlmostEqual(pearson(moved, self.t).item(),
                               pearson(self.s, self.t).item(), places=5)
        # SSIM on standardised maps is invariant too
        full = MDCLoss()
        self.assertAlmostEqual(full(moved, self.t).item(),
                               full(self.s, self.t).item(), places=4)
        # ... but a sign flip of one channel is not an invariance
        flipped = self.s * torch.tensor([-1., 1, 1, 1, 1, 1]).view(1, 6, 1, 1)
        self.assertGreater(
            abs(pearson(flipped, self.t).item() -
                pearson(self.s, self.t).item()), 1e-3)

    def test_matches_reference_values_and_gradients(self):
        gen = torch.Generator().manual_seed(2)
        t = torch.randn(2, 5, 6, 7, generator=gen, dtype=torch.float64)
        for kwargs in (dict(), dict(block_elements=1),
                       dict(block_elements=0),
                       dict(ssim_on_standardized=False),
                       dict(local_weight=0.), dict(global_weight=0.),
                       dict(window_size=3, sigma=0.8)):
            loss = MDCLoss(**kwargs).double()
            s = torch.randn(2, 5, 6, 7, generator=gen, dtype=torch.float64,
                            requires_grad=True)
            ours = loss(s, t)
            (grad_ours, ) = torch.autograd.grad(ours, s)
            ref = reference_loss(loss, s, t)
            (grad_ref, ) = torch.autograd.grad(ref, s)
            self.assertAlmostEqual(ours.item(), ref.item(), places=10,
                                   msg=str(kwargs))
            self.assertTrue(torch.allclose(grad_ours, grad_ref, atol=1e-12),
                            msg=str(kwargs))

    def test_gradcheck(self):
        gen = torch.Generator().manual_seed(3)
        t = torch.randn(1, 2, 4, 5, generator=gen, dtype=torch.float64)
        s = torch.randn(1, 2, 4, 5, generator=gen, dtype=torch.float64,
                        requires_grad=True)
        loss = MDCLoss(block_elements=20).double()  # one channel per block
        self.assertTrue(torch.autograd.gradcheck(lambda x: loss(x, t),
                                                 (s, )))

    def test_gradients_reach_student_only(self):
        s = self.s.clone().requires_grad_()
        t = self.t.clone().requires_grad_()
        MDCLoss()(s, t).backward()
        self.assertIsNone(t.grad)
        self.assertGreater(s.grad.abs().sum().item(), 0)
        self.assertTrue(torch.isfinite(s.grad).all())

    def test_constant_channel_has_finite_gradient(self):
        s = self.s.clone()
        s[:, 2] = 3.0
        s.requires_grad_()
        loss = MDCLoss()(s, self.t)
        loss.backward()
        self.assertTrue(torch.isfinite(loss))
        self.assertTrue(torch.isfinite(s.grad).all())

    def test_student_resized_to_teacher(self):
        small = self.s[:, :, :4, :5].clone().requires_grad_()
        big_t = torch.randn(2, 6, 8, 10)
        resized = F.interpolate(small, size=(8, 10), mode='bilinear',
                                align_corners=False)
        loss = MDCLoss()
        value = loss(small, big_t)
        self.assertAlmostEqual(value.item(), loss(resized, big_t).item(),
                               places=6)
        value.backward()
        self.assertEqual(small.grad.shape, small.shape)

    def test_channel_mismatch_raises(self):
        with self.assertRaisesRegex(ValueError, 'FeatureAdapter'):
            MDCLoss()(self.s[:, :3], self.t)

    def test_invalid_arguments(self):
        with self.assertRaisesRegex(ValueError, 'window_size'):
            MDCLoss(window_size=4)
        with self.assertRaisesRegex(ValueError, 'sigma'):
            MDCLoss(sigma=0.)
        with self.assertRaisesRegex(ValueError, 'global_weight'):
            MDCLoss(global_weight=-1.)

    def test_function_returns_both_terms(self):
        loss = MDCLoss()
        pcc, ssim = MDCLossFunction.apply(self.s, self.t, loss.gauss_1d,
                                          1e-4, 9e-4, 1e-6, True, True, True,
                                          0)
        ref_pcc = PKDLoss()(self.s, self.t)
        self.assertAlmostEqual(pcc.item(), ref_pcc.item(), places=5)
        self.assertAlmostEqual(
            ssim.item(),
            ((1 - loss.ssim_map(loss.standardize(self.s),
                                loss.standardize(self.t))) / 2).mean().item(),
            places=6)

    def test_registered(self):
        loss = MODELS.build(dict(type='mmkd_dense.MDCLoss', local_weight=2.))
        self.assertIsInstance(loss, MDCLoss)
        self.assertEqual((loss.global_weight, loss.local_weight), (6., 2.))


if __name__ == '__main__':
    unittest.main()
