# Copyright (c) mmkd_dense contributors. All rights reserved.
import math
import unittest

import torch

from mmkd_dense.models.utils import (background_mask, fgd_foreground_mask,
                                     spatial_attention)


def loop_fgd_mask(boxes, index, num_images, input_shape, hw):
    """Per-box reference in the style of the FGD code (clipped ranges)."""
    h, w = hw
    mask = torch.zeros(num_images, h, w)
    for (x1, y1, x2, y2), i in zip(boxes.tolist(), index.tolist()):
        c1 = min(max(math.floor(x1 * w / input_shape[1]), 0), w - 1)
        c2 = min(max(math.ceil(x2 * w / input_shape[1]), 0), w - 1)
        r1 = min(max(math.floor(y1 * h / input_shape[0]), 0), h - 1)
        r2 = min(max(math.ceil(y2 * h / input_shape[0]), 0), h - 1)
        area = 1.0 / ((r2 - r1 + 1) * (c2 - c1 + 1))
        region = mask[i, r1:r2 + 1, c1:c2 + 1]
        mask[i, r1:r2 + 1, c1:c2 + 1] = torch.clamp(region, min=area)
    return mask


def loop_fgd_mask_reference(boxes, index, num_images, input_shape, hw):
    """Per-box loop of the FGD authors' code: the area comes from the
    unclipped cell extent, the slice is clipped by Python slicing."""
    h, w = hw
    mask = torch.zeros(num_images, h, w)
    for (x1, y1, x2, y2), i in zip(boxes.tolist(), index.tolist()):
        c1 = math.floor(x1 * w / input_shape[1])
        c2 = math.ceil(x2 * w / input_shape[1])
        r1 = math.floor(y1 * h / input_shape[0])
        r2 = math.ceil(y2 * h / input_shape[0])
        area = 1.0 / ((r2 + 1 - r1) * (c2 + 1 - c1))
        region = mask[i, r1:r2 + 1, c1:c2 + 1]
        mask[i, r1:r2 + 1, c1:c2 + 1] = torch.clamp(region, min=area)
    return mask


class TestFGDMasks(unittest.TestCase):

    def test_hand_built_case(self):
        boxes = torch.tensor([[0., 0., 4., 4.], [4., 0., 16., 16.]])
        fg = fgd_foreground_mask(boxes, torch.tensor([0, 0]), 1, (16, 16),
                                 (4, 4))[0]
        expected = torch.tensor([[1 / 4, 1 / 4, 1 / 12, 1 / 12],
                                 [1 / 4, 1 / 4, 1 / 12, 1 / 12],
                                 [0, 1 / 12, 1 / 12, 1 / 12],
                                 [0, 1 / 12, 1 / 12, 1 / 12]])
        self.assertTrue(torch.allclose(fg, expected))
        bg = background_mask(fg[None])[0]
        self.assertTrue(torch.allclose(bg[2:, 0], torch.tensor([.5, .5])))
        self.assertEqual(float(bg.sum()), 1.0)

    def test_matches_loop_reference(self):
        torch.manual_seed(0)
        xy = torch.rand(60, 2) * 300
        boxes = torch.cat([xy, xy + 4 + torch.rand(60, 2) * 200], dim=1)
        index = torch.randint(0, 3, (60,))
        for hw in [(40, 50), (20, 25), (5, 7), (1, 2)]:
            vec = fgd_foreground_mask(boxes, index, 3, (320, 400), hw)
            ref = loop_fgd_mask(boxes, index, 3, (320, 400), hw)
            self.assertTrue(torch.allclose(vec, ref), hw)

    def test_no_boxes(self):
        fg = fgd_foreground_mask(torch.zeros(0, 4), torch.zeros(0).long(), 2,
                                 (32, 32), (4, 4))
        self.assertEqual(fg.shape, (2, 4, 4))
        self.assertEqual(float(fg.abs().sum()), 0.0)
        bg = background_mask(fg)
        self.assertTrue(torch.allclose(bg, torch.full((2, 4, 4), 1 / 16)))

    def test_box_beyond_border_is_clipped(self):
        boxes = torch.tensor([[24., 24., 64., 64.]])
        fg = fgd_foreground_mask(boxes, torch.tensor([0]), 1, (32, 32),
                                 (4, 4))[0]
        self.assertTrue(torch.allclose(fg[3, 3], torch.tensor(1 / 1.)))
        self.assertEqual(int((fg > 0).sum()), 1)


class TestFGDMaskAreaModes(unittest.TestCase):

    def test_box_beyond_border_reference_area(self):
        # x, y cells 3..8 unclipped: 6 x 6 = 36; only cell (3, 3) exists
        boxes = torch.tensor([[24., 24., 64., 64.]])
        fg = fgd_foreground_mask(boxes, torch.tensor([0]), 1, (32, 32),
                                 (4, 4), area_mode='reference')[0]
        self.assertAlmostEqual(fg[3, 3].item(), 1 / 36, places=7)
        self.assertEqual(int((fg > 0).sum()), 1)

    def test_border_box_counts_cell_past_the_map(self):
        # [4, 0, 16, 16] on a 16x16 input, 4x4 map: ceil(16/4) = 4 is one
        # column and one row past the map -> 4 x 5 = 20 cells (clipped: 12)
        boxes = torch.tensor([[4., 0., 16., 16.]])
        index = torch.tensor([0])
        ref = fgd_foreground_mask(boxes, index, 1, (16, 16), (4, 4),
                                  area_mode='reference')[0]
        clipped = fgd_foreground_mask(boxes, index, 1, (16, 16), (4, 4))[0]
        self.assertAlmostEqual(ref[0, 1].item(), 1 / 20, places=7)
        self.assertAlmostEqual(clipped[0, 1].item(), 1 / 12, places=7)
        self.assertTrue(torch.equal(ref > 0, clipped > 0))

    def test_reference_mode_matches_loop(self):
        torch.manual_seed(1)
        xy = torch.rand(60, 2) * 300
        boxes = torch.cat([xy, xy + 4 + torch.rand(60, 2) * 200], dim=1)
        index = torch.randint(0, 3, (60,))
        for hw in [(40, 50), (20, 25), (5, 7), (1, 2)]:
            vec = fgd_foreground_mask(boxes, index, 3, (320, 400), hw,
                                      area_mode='reference')
            ref = loop_fgd_mask_reference(boxes, index, 3, (320, 400), hw)
            self.assertTrue(torch.allclose(vec, ref), hw)

    def test_invalid_area_mode(self):
        with self.assertRaisesRegex(ValueError, "area_mode.*'clipped'"):
            fgd_foreground_mask(torch.zeros(1, 4), torch.zeros(1).long(), 1,
                                (8, 8), (2, 2), area_mode='exact')


class TestAttention(unittest.TestCase):

    def test_spatial_attention_formula(self):
        feat = torch.zeros(1, 2, 1, 2)
        feat[0, :, 0, 0] = torch.tensor([1., -3.])  # mean |.| = 2
        att = spatial_attention(feat, temperature=0.5)[0, 0]
        e = math.exp(2 / 0.5)
        self.assertAlmostEqual(att[0].item(), 2 * e / (e + 1), places=5)
        self.assertAlmostEqual(att[1].item(), 2 / (e + 1), places=5)

    def test_pooled_spatial_attention_is_mean_one(self):
        torch.manual_seed(0)
        att = spatial_attention(torch.randn(2, 4, 6, 7), 0.5, pool_size=3)
        self.assertTrue(torch.allclose(att.mean(dim=(1, 2)),
                                       torch.ones(2)))


if __name__ == '__main__':
    unittest.main()
