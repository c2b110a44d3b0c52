# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Weight maps (FGDScaleMask, DISWMap, CIDWeightMap): values against the
mask helpers and hand counts, the fg/bg split, per-batch caching, building
from configs and the errors."""
import unittest

import torch

import mmkd_dense  # noqa: F401
from mmkd_dense.models.utils import (BaseWeightMap, CIDWeightMap, DISWMap,
                                     FGDScaleMask, build_weight_map,
                                     cid_weight_map, disw_map, fgd_masks)
from mmkd_dense.registry import MODELS

from ..box_context import box_context

CPU = torch.device('cpu')


def _ctx():
    # image 0: boxes A [0,0,4,4] and B [4,0,16,16] on a 16x16 input;
    # image 1: no box
    return box_context([[[0, 0, 4, 4], [4, 0, 16, 16]], []])


class TestFGDScaleMask(unittest.TestCase):

    def test_hand_values(self):
        """4x4 map (stride 4): A covers 2x2 cells (weight 1/4), B covers
        x in [1,3], y in [0,3] (12 cells on the map, 20 counted with
        'reference'); the two uncovered cells x=0, y in {2,3} share M_bg."""
        for mode, b_weight in (('clipped', 1 / 12), ('reference', 1 / 20)):
            fg, bg = FGDScaleMask(mode).fg_bg(_ctx(), (4, 4), CPU)
            self.assertEqual(tuple(fg.shape), (2, 1, 4, 4))
            self.assertEqual(tuple(bg.shape), (2, 1, 4, 4))
            expected = torch.full((4, 4), b_weight)
            expected[:2, :2] = 0.25  # max(1/4, B's weight)
            expected[2:, 0] = 0.
            torch.testing.assert_close(fg[0, 0], expected)
            bg_expected = torch.zeros(4, 4)
            bg_expected[2:, 0] = 0.5
            torch.testing.assert_close(bg[0, 0], bg_expected)
            # image without GT: no foreground, uniform background
            self.assertEqual(float(fg[1].abs().sum()), 0.)
            torch.testing.assert_close(bg[1], torch.full((1, 4, 4), 1 / 16))

    def test_same_tensors_as_fgd_masks(self):
        ctx = _ctx()
        fg, bg = FGDScaleMask('clipped').fg_bg(ctx, (4, 4), CPU)
        ref_fg, ref_bg = fgd_masks(ctx, (4, 4), CPU, 'clipped')
        self.assertTrue(torch.equal(fg[:, 0], ref_fg))
        self.assertTrue(torch.equal(bg[:, 0], ref_bg))
        self.assertTrue(torch.equal(FGDScaleMask('clipped')(ctx, (4, 4),
                                                            CPU), fg))

    def test_invalid_area_mode(self):
        with self.assertRaisesRegex(ValueError, 'area_mode.*reference'):
            FGDScaleMask('exact')


class TestDISWMap(unittest.TestCase):

    def test_equals_disw_map(self):
        ctx = _ctx()
        boxes, index = ctx.flat_gt_bboxes(CPU)
        ref = disw_map(boxes, index, 2, (16, 16), (4, 4))
        self.assertTrue(torch.equal(DISWMap()(ctx, (4, 4), CPU), ref))
        # base 0: only the per-object mass (1 per box on the map)
        no_base = DISWMap(base=0.)(_ctx(), (4, 4), CPU)
        torch.testing.assert_close(no_base, ref - 1.)
        torch.testing.assert_close(no_base[0].sum(), torch.tensor(2.))
        # base > 0: every cell is foreground, M_bg = 0
        _, bg = DISWMap().fg_bg(ctx, (4, 4), CPU)
        self.assertEqual(float(bg.abs().sum()), 0.)
        # base 0: the background is the cells outside every box
        fg, bg = DISWMap(base=0.).fg_bg(_ctx(), (4, 4), CPU)
        self.assertEqual(float(bg[0, 0, 2:, 0].sum()), 1.)
        self.assertEqual(float(bg[0].sum()), 1.)

    def test_levels_built_once_and_shared(self):
        ctx = _ctx()
        weight_map = DISWMap()
        levels = weight_map.levels(ctx, [(4, 4), (2, 2)], CPU)
        self.assertEqual([tuple(m.shape) for m in levels],
                         [(2, 1, 4, 4), (2, 1, 2, 2)])
        # a single-level call reuses the level built with the others
        self.assertIs(weight_map(ctx, (2, 2), CPU), levels[1])
        self.assertIs(weight_map.levels(ctx, [(4, 4), (2, 2)], CPU)[0],
                      levels[0])
        boxes, index = ctx.flat_gt_bboxes(CPU)
        self.assertTrue(torch.equal(
            levels[1], disw_map(boxes, index, 2, (16, 16), (2, 2))))
        with self.assertRaisesRegex(ValueError, 'strides'):
            weight_map.levels(ctx, [(4, 4)], CPU, strides=[None, None])

    def test_negative_base(self):
        with self.assertRaisesRegex(ValueError, 'base'):
            DISWMap(base=-1)


class TestCIDWeightMap(unittest.TestCase):

    def test_equals_cid_weight_map(self):
        ctx = box_context([[[8, 8, 40, 24]], [[0, 0, 16, 16]]], (32, 48))
        boxes, index = ctx.flat_gt_bboxes(CPU)
        ref = cid_weight_map(boxes, index, 2, (4, 6), (8., 8.))
        weight = CIDWeightMap()(ctx, (4, 6), CPU)  # stride inferred: 8
        self.assertTrue(torch.equal(weight[:, 0], ref))
        # each instance has mass 1 per level
        torch.testing.assert_close(weight.sum(dim=(1, 2, 3)),
                                   torch.ones(2))
        # an explicit stride changes the prior centres
        other = CIDWeightMap(stride=(4., 4.))(ctx, (4, 6), CPU)
        self.assertFalse(torch.equal(other, weight))

    def test_norms_and_background(self):
        ctx = box_context([[[8, 8, 24, 24], [40, 16, 48, 32]], []],
                          (32, 48))
        inst_fg, inst_bg = CIDWeightMap('instance').fg_bg(ctx, (4, 6), CPU)
        img_fg, img_bg = CIDWeightMap('image').fg_bg(ctx, (4, 6), CPU)
        torch.testing.assert_close(inst_fg[0].sum(), torch.tensor(2.))
        torch.testing.assert_close(img_fg[0].sum(), torch.tensor(1.))
        torch.testing.assert_close(img_fg, inst_fg / inst_fg[0].sum())
        self.assertTrue(torch.equal(inst_bg, img_bg))
        # M_bg = 1[W = 0] / #(W = 0)
        zero = (inst_fg[0] == 0).float()
        torch.testing.assert_close(inst_bg[0], zero / zero.sum())
        # image without GT: W = 0, uniform background
        self.assertEqual(float(inst_fg[1].abs().sum()), 0.)
        torch.testing.assert_close(inst_bg[1], torch.full((1, 4, 6), 1 / 24))
        self.assertTrue(torch.equal(CIDWeightMap('image')(ctx, (4, 6), CPU),
                                    img_fg))

    def test_invalid_norm(self):
        with self.assertRaisesRegex(ValueError, 'norm'):
            CIDWeightMap(norm='batch')


class TestBuildAndCache(unittest.TestCase):

    def test_build_from_config(self):
        built = build_weight_map(
            dict(type='mmkd_dense.CIDWeightMap', norm='image',
                 stride=[8, 8]), 'X.fg_weight')
        self.assertIsInstance(built, CIDWeightMap)
        self.assertEqual(built.stride, (8., 8.))
        self.assertIsInstance(MODELS.build(dict(type='mmkd_dense.DISWMap')),
                              DISWMap)
        same = FGDScaleMask()
        self.assertIs(build_weight_map(same, 'X.fg_weight'), same)
        self.assertIsNone(build_weight_map(None, 'X.fg_weight'))

    def test_build_errors_name_the_key(self):
        with self.assertRaisesRegex(TypeError, r'FGDLoss\.fg_weight.*type'):
            build_weight_map('cid', 'FGDLoss.fg_weight')
        with self.assertRaisesRegex(TypeError,
                                    r'FGDLoss\.fg_weight.*not a weight map'):
            build_weight_map(dict(type='mmdet.MSELoss'), 'FGDLoss.fg_weight')

    def test_cached_per_batch_and_parameters(self):
        ctx = _ctx()
        first = CIDWeightMap()(ctx, (4, 4), CPU)
        # an equal map (another instance) shares the batch's tensor
        self.assertIs(CIDWeightMap()(ctx, (4, 4), CPU), first)
        self.assertIsNot(CIDWeightMap(expand=2.)(ctx, (4, 4), CPU), first)
        self.assertNotEqual(CIDWeightMap().cache_key,
                            CIDWeightMap(norm='image').cache_key)
        # a new batch recomputes
        self.assertIsNot(CIDWeightMap()(_ctx(), (4, 4), CPU), first)

    def test_base_class_needs_compute(self):
        # abstract: a map without ``compute`` cannot be instantiated
        with self.assertRaisesRegex(TypeError, 'compute'):
            BaseWeightMap()

        class NoCompute(BaseWeightMap):
            pass

        with self.assertRaisesRegex(TypeError, 'compute'):
            NoCompute()


if __name__ == '__main__':
    unittest.main()
