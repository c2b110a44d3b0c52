# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Any feature loss takes any weight map by config: FGD, LSFI, DISW-MSE and
the DS2D2 explicit stream with FGD / DISW / CID maps (values against the
formulas with the map's tensor), the defaults reproduce the former masks,
and CIDWeightedFeatureLoss('mask') equals the direct ``fg_weight`` config.
"""
import unittest

import torch

import mmkd_dense  # noqa: F401
from mmkd_dense.models.losses import (CIDWeightedFeatureLoss,
                                      DISWFeatureLoss, DS2D2ExplicitLoss,
                                      FGDLoss, LSFILoss)
from mmkd_dense.models.utils import (CIDWeightMap, DISWMap, FGDScaleMask,
                                     channel_attention, fgd_masks,
                                     haar_dwt2d, spatial_attention)
from mmkd_dense.registry import MODELS

from ..box_context import box_context

CPU = torch.device('cpu')
INPUT = (64, 80)
MAPS = {
    'fgd': dict(type='mmkd_dense.FGDScaleMask', area_mode='clipped'),
    'disw': dict(type='mmkd_dense.DISWMap'),
    'disw0': dict(type='mmkd_dense.DISWMap', base=0.),
    'cid': dict(type='mmkd_dense.CIDWeightMap', norm='instance'),
    'cid_img': dict(type='mmkd_dense.CIDWeightMap', norm='image'),
}


def _ctx():
    return box_context([[[4, 8, 36, 40], [40, 0, 80, 24]], [[8, 8, 16, 16]]],
                       INPUT)


def _pair(channels=8, hw=(8, 10), seed=0):
    gen = torch.Generator().manual_seed(seed)
    s = torch.randn(2, channels, *hw, generator=gen)
    t = torch.randn(2, channels, *hw, generator=gen)
    return s, t


def _fgd_focal(s, t, fg, bg, alpha, beta, temperature=0.5):
    """FGD's alpha * L_fg + beta * L_bg with the given masks (N,1,H,W)."""
    att = spatial_attention(t, temperature)[:, None] * channel_attention(
        t, temperature)[:, :, None, None]
    sq = att * (t - s)**2
    return (alpha * (sq * fg).sum() + beta * (sq * bg).sum()) / t.shape[0]


class TestFeatureLossesTakeAnyMap(unittest.TestCase):

    def test_fgd_with_every_map(self):
        s, t = _pair()
        values = {}
        for name, cfg in MAPS.items():
            with self.subTest(map=name):
                ctx = _ctx()
                loss = MODELS.build(dict(
                    type='mmkd_dense.FGDLoss', student_channels=8,
                    teacher_channels=8, alpha_fgd=1.0, beta_fgd=0.5,
                    gamma_fgd=0., lambda_fgd=0., with_global=False,
                    fg_weight=cfg))
                value = loss(s, t, ctx)
                fg, bg = MODELS.build(cfg).fg_bg(ctx, (8, 10), CPU)
                self.assertEqual(value.dim(), 0)
                self.assertTrue(torch.isfinite(value))
                torch.testing.assert_close(
                    value, _fgd_focal(s, t, fg, bg, 1.0, 0.5))
                values[name] = float(value)
        # the map decides the value: five maps, five values
        self.assertEqual(len(set(values.values())), len(MAPS))

    def test_lsfi_with_every_map_equals_fgd_with_it(self):
        """LSFI with K = {1} is FGD without the global term, for any map."""
        s, t = _pair()
        kwargs = dict(temperature=0.5, alpha=1e-3, beta=5e-4, gamma=5e-4)
        for name, cfg in MAPS.items():
            with self.subTest(map=name):
                ctx = _ctx()
                student = s.clone().requires_grad_()
                lsfi = LSFILoss(pool_sizes=(1, ), fg_weight=cfg, **kwargs)
                value = lsfi(student, t, ctx)
                value.backward()
                self.assertTrue(torch.isfinite(value))
                self.assertTrue(torch.isfinite(student.grad).all())
                fgd = FGDLoss(8, 8, temperature=0.5, alpha_fgd=1e-3,
                              beta_fgd=5e-4, gamma_fgd=5e-4, lambda_fgd=0.,
                              with_global=False, fg_weight=cfg)
                torch.testing.assert_close(value, fgd(s, t, ctx))

    def test_disw_feature_loss_with_every_map(self):
        s, t = _pair()
        for name, cfg in MAPS.items():
            with self.subTest(map=name):
                ctx = _ctx()
                value = DISWFeatureLoss(weight=cfg)(s, t, ctx)
                weight = MODELS.build(cfg)(ctx, (8, 10), CPU)
                self.assertEqual(tuple(weight.shape), (2, 1, 8, 10))
                torch.testing.assert_close(value,
                                           (weight * (s - t)**2).mean())

    def test_ds2d2_explicit_with_every_map(self):
        levels_s = (_pair(seed=1)[0], _pair(hw=(4, 5), seed=2)[0])
        levels_t = (_pair(seed=1)[1], _pair(hw=(4, 5), seed=2)[1])
        for name, cfg in MAPS.items():
            with self.subTest(map=name):
                ctx = _ctx()
                torch.manual_seed(0)
                loss = DS2D2ExplicitLoss(8, 8, 1.0, 2.0, weight=cfg)
                value = loss(levels_s, levels_t, ctx)
                weight_map = MODELS.build(cfg)
                expected = 0.
                for fs, ft in zip(levels_s, levels_t):
                    ll_s, hb_s = haar_dwt2d(loss.adapter(fs))
                    ll_t, hb_t = haar_dwt2d(ft)
                    w = weight_map(ctx, ll_s.shape[-2:], CPU)
                    expected = expected + (w * (ll_s - ll_t)**2).mean() + \
                        2.0 * (w[:, :, None] * (hb_s - hb_t)**2).mean()
                self.assertTrue(torch.isfinite(value))
                torch.testing.assert_close(value, expected)


class TestDefaultsUnchanged(unittest.TestCase):

    def test_fgd_default_is_the_fgd_mask(self):
        """FGD's default map gives the value of FGD's own formulas with
        ``fgd_masks`` (area_mode='reference'), exactly."""
        s, t = _pair()
        ctx = _ctx()
        loss = FGDLoss(8, 8, alpha_fgd=1.0, beta_fgd=0.5, gamma_fgd=0.,
                       lambda_fgd=0., with_global=False)
        self.assertEqual(loss.area_mode, 'reference')
        self.assertIsInstance(loss.fg_weight, FGDScaleMask)
        fg, bg = fgd_masks(_ctx(), (8, 10), CPU, 'reference')
        expected = _fgd_focal(s, t, fg[:, None], bg[:, None], 1.0, 0.5)
        self.assertEqual(float(loss(s, t, ctx)), float(expected))
        explicit = FGDLoss(8, 8, alpha_fgd=1.0, beta_fgd=0.5, gamma_fgd=0.,
                           lambda_fgd=0., with_global=False,
                           fg_weight=dict(type='mmkd_dense.FGDScaleMask',
                                          area_mode='reference'))
        self.assertEqual(float(explicit(s, t, _ctx())),
                         float(loss(s, t, _ctx())))

    def test_lsfi_default_is_the_clipped_fgd_mask(self):
        loss = LSFILoss()
        self.assertEqual(loss.area_mode, 'clipped')
        s, t = _pair()
        direct = LSFILoss(fg_weight=FGDScaleMask('clipped'))
        self.assertEqual(float(loss(s, t, _ctx())),
                         float(direct(s, t, _ctx())))

    def test_disw_defaults(self):
        s, t = _pair()
        self.assertIsInstance(DISWFeatureLoss().weight, DISWMap)
        self.assertEqual(
            float(DISWFeatureLoss()(s, t, _ctx())),
            float(DISWFeatureLoss(weight=dict(type='mmkd_dense.DISWMap'))(
                s, t, _ctx())))
        self.assertIsInstance(DS2D2ExplicitLoss().weight, DISWMap)
        self.assertIsNone(DS2D2ExplicitLoss(weight_type='none').weight)

    def test_conflicting_arguments(self):
        with self.assertRaisesRegex(ValueError, 'area_mode.*fg_weight'):
            FGDLoss(8, 8, area_mode='clipped',
                    fg_weight=dict(type='mmkd_dense.CIDWeightMap'))
        with self.assertRaisesRegex(ValueError, 'area_mode.*fg_weight'):
            LSFILoss(area_mode='clipped', fg_weight=CIDWeightMap())
        with self.assertRaisesRegex(ValueError, "weight_type='none'"):
            DS2D2ExplicitLoss(weight_type='none', weight=DISWMap())
        with self.assertRaisesRegex(TypeError, r'FGDLoss\.fg_weight'):
            FGDLoss(8, 8, fg_weight=dict(type='mmdet.MSELoss'))


class TestCIDWeightedFeatureLossAdapter(unittest.TestCase):
    """'mask' mode builds the wrapped loss with the CID map as fg_weight."""

    FGD = dict(type='mmkd_dense.FGDLoss', student_channels=8,
               teacher_channels=8, temperature=0.5, alpha_fgd=1e-3,
               beta_fgd=5e-4, gamma_fgd=5e-4, lambda_fgd=5e-6)

    def _both(self, inner, **cid):
        torch.manual_seed(0)  # same GcBlock initialisation for both
        wrapped = CIDWeightedFeatureLoss(loss=dict(inner), mode='mask',
                                         **cid)
        torch.manual_seed(0)
        direct = MODELS.build(dict(
            inner, fg_weight=dict(type='mmkd_dense.CIDWeightMap', **cid)))
        return wrapped, direct

    def test_equals_direct_config(self):
        s, t = _pair()
        lsfi = dict(type='mmkd_dense.LSFILoss')
        for inner, cid in ((self.FGD, dict(norm='instance')),
                           (self.FGD, dict(norm='image', expand=2.)),
                           (lsfi, dict(norm='instance', stride=(8, 8)))):
            with self.subTest(loss=inner['type'], **cid):
                wrapped, direct = self._both(inner, **cid)
                value = wrapped(s, t, _ctx())
                self.assertEqual(float(value), float(direct(s, t, _ctx())))
                self.assertIsInstance(wrapped.loss.fg_weight, CIDWeightMap)
                # the wrapper only adds the 'loss.' prefix to the weights
                self.assertEqual(
                    set(wrapped.state_dict()),
                    {f'loss.{k}' for k in direct.state_dict()})

    def test_built_loss_gets_the_cid_map(self):
        s, t = _pair()
        torch.manual_seed(0)
        wrapped = CIDWeightedFeatureLoss(loss=MODELS.build(self.FGD))
        torch.manual_seed(0)
        direct = MODELS.build(dict(
            self.FGD, fg_weight=dict(type='mmkd_dense.CIDWeightMap')))
        self.assertIsNone(wrapped.loss.area_mode)
        self.assertEqual(float(wrapped(s, t, _ctx())),
                         float(direct(s, t, _ctx())))

    def test_inner_mask_settings_rejected(self):
        for key, value in (('area_mode', 'clipped'),
                           ('fg_weight', dict(type='mmkd_dense.DISWMap'))):
            with self.subTest(key=key):
                with self.assertRaisesRegex(ValueError, f'loss.{key}'):
                    CIDWeightedFeatureLoss(loss=dict(self.FGD, **{key: value}))

    def test_loss_without_a_map_needs_feature_mode(self):
        with self.assertRaisesRegex(ValueError, 'fg_weight.*"feature"'):
            CIDWeightedFeatureLoss(loss=dict(type='mmdet.MSELoss'))
        with self.assertRaisesRegex(ValueError, 'fg_weight.*"feature"'):
            CIDWeightedFeatureLoss(loss=DISWFeatureLoss())


if __name__ == '__main__':
    unittest.main()
