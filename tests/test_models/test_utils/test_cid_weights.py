# Copyright (c) mmkd_dense contributors. All rights reserved.
"""CID weights (centerness in enlarged GT boxes, per-instance normalised)."""
import math
import unittest

import torch

import mmkd_dense  # noqa: F401
from mmkd_dense.models.utils.cid_weights import (cid_fg_bg_masks,
                                                 cid_point_weights,
                                                 cid_weight_map, cid_weights,
                                                 enlarge_boxes, infer_stride)
from mmkd_dense.utils.dummy_batch import make_dummy_batch
from mmkd_dense.structures import DistillBatchContext


def one_map(box, hw=(16, 20), stride=(8., 8.), offset=0.5, num_images=1,
            image=0):
    boxes = torch.tensor([box], dtype=torch.float32)
    return cid_weight_map(boxes, torch.tensor([image]), num_images, hw,
                          stride, offset)


class TestCIDWeights(unittest.TestCase):

    def test_hand_computed_value_and_peak(self):
        # stride 1, offset 0: priors at integer pixels. Box centre (5, 5),
        # 4x4 -> enlarged half-size 1.5*2 = 3 -> [2, 8]; priors 3..7 inside.
        w = one_map((3., 3., 7., 7.), hw=(12, 12), stride=(1., 1.),
                    offset=0.)[0]
        axis = [math.sqrt(1 / 5), math.sqrt(2 / 4), 1., math.sqrt(2 / 4),
                math.sqrt(1 / 5)]
        total = sum(axis)**2
        self.assertAlmostEqual(float(w[5, 5]), 1. / total, places=6)
        self.assertAlmostEqual(float(w[3, 6]), axis[0] * axis[3] / total,
                               places=6)
        # peak at the box centre
        self.assertEqual(int(w.argmax()), 5 * 12 + 5)
        # zero outside the enlarged box, and on its border (x = 2, x = 8)
        self.assertEqual(float(w[5, 2]), 0.)
        self.assertEqual(float(w[8, 5]), 0.)
        self.assertEqual(float(w[:, :3].sum() + w[:, 8:].sum()), 0.)
        self.assertTrue(bool((w[3:8, 3:8] > 0).all()))

    def test_zero_outside_enlarged_box(self):
        box = (40., 30., 88., 62.)  # centre (64, 46), enlarged 72 x 48
        w = one_map(box)[0]
        big = enlarge_boxes(torch.tensor([box]), 8., 8., 1.5)[0]
        xs = (torch.arange(20) + 0.5) * 8
        ys = (torch.arange(16) + 0.5) * 8
        inside = ((ys[:, None] > big[1]) & (ys[:, None] < big[3]) &
                  (xs[None] > big[0]) & (xs[None] < big[2]))
        self.assertTrue(bool((w[~inside] == 0).all()))
        self.assertTrue(bool((w[inside] > 0).all()))

    def test_each_instance_sums_to_one_per_level(self):
        inputs, samples = make_dummy_batch(
            num_images=3, boxes_per_image=(4, 0, 2), seed=3)
        context = DistillBatchContext(samples, (128, 160))
        boxes, index = context.flat_gt_bboxes()
        for hw, stride in (((16, 20), 8.), ((8, 10), 16.), ((2, 3), 64.),
                           ((1, 2), 128.)):
            combined = cid_weights(context, hw, torch.device('cpu'),
                                   stride=(stride, stride))
            self.assertEqual(combined.shape, (3, *hw))
            total = torch.zeros_like(combined)
            for m in range(len(boxes)):
                single = cid_weight_map(boxes[m:m + 1], index[m:m + 1], 3,
                                        hw, (stride, stride))
                self.assertAlmostEqual(float(single.sum()), 1., places=5)
                # mass only in its own image
                others = [i for i in range(3) if i != int(index[m])]
                self.assertEqual(float(single[others].sum()), 0.)
                total += single
            # W(p) = sum over instances
            self.assertTrue(torch.allclose(combined, total, atol=1e-6))
            per_image = combined.sum(dim=(1, 2))
            self.assertTrue(torch.allclose(
                per_image, torch.tensor([4., 0., 2.]), atol=1e-4))

    def test_tiny_box_gets_at_least_one_cell(self):
        for offset in (0., 0.5):
            for box in ((100., 60., 101., 61.), (64., 64., 64.5, 64.5),
                        (0., 0., 2., 2.), (155., 120., 160., 128.)):
                w = one_map(box, offset=offset)
                self.assertGreaterEqual(int((w > 0).sum()), 1, msg=box)
                self.assertAlmostEqual(float(w.sum()), 1., places=5)

    def test_small_and_large_objects_weigh_the_same(self):
        small = one_map((60., 60., 68., 68.))
        large = one_map((8., 8., 150., 120.))
        self.assertAlmostEqual(float(small.sum()), float(large.sum()),
                               places=5)
        self.assertGreater(float(small.max()), float(large.max()))

    def test_no_gt(self):
        empty = cid_weight_map(torch.zeros((0, 4)), torch.zeros(
            (0,), dtype=torch.long), 2, (16, 20), (8., 8.))
        self.assertEqual(empty.shape, (2, 16, 20))
        self.assertEqual(float(empty.abs().sum()), 0.)
        _, samples = make_dummy_batch(num_images=2, boxes_per_image=(0,))
        context = DistillBatchContext(samples, (128, 160))
        fg, bg = cid_fg_bg_masks(context, (16, 20), torch.device('cpu'))
        self.assertEqual(float(fg.sum()), 0.)
        self.assertTrue(torch.allclose(bg.sum(dim=(1, 2)), torch.ones(2)))

    def test_fg_bg_masks(self):
        _, samples = make_dummy_batch(num_images=2, boxes_per_image=(3, 1))
        context = DistillBatchContext(samples, (128, 160))
        fg, bg = cid_fg_bg_masks(context, (16, 20), torch.device('cpu'))
        self.assertTrue(torch.allclose(fg.sum(dim=(1, 2)),
                                       torch.tensor([3., 1.]), atol=1e-4))
        self.assertEqual(float((bg * fg).sum()), 0.)
        self.assertTrue(torch.allclose(bg.sum(dim=(1, 2)), torch.ones(2)))
        fg_img, _ = cid_fg_bg_masks(context, (16, 20), torch.device('cpu'),
                                    norm='image')
        self.assertTrue(torch.allclose(fg_img.sum(dim=(1, 2)),
                                       torch.ones(2), atol=1e-5))
        # cached: the same tensors for the same level
        again, _ = cid_fg_bg_masks(context, (16, 20), torch.device('cpu'))
        self.assertIs(again, fg)

    def test_infer_stride(self):
        self.assertEqual(infer_stride((128, 160), (16, 20)), (8., 8.))
        self.assertEqual(infer_stride((128, 160), (1, 2)), (128., 128.))
        self.assertEqual(infer_stride((800, 1216), (13, 19)), (64., 64.))
        self.assertEqual(infer_stride((800, 1216), (7, 10)), (128., 128.))

    def test_point_weights(self):
        boxes = torch.tensor([[10., 10., 30., 30.], [50., 50., 60., 70.]])
        box_image = torch.tensor([0, 1])
        gen = torch.Generator().manual_seed(0)
        points = torch.rand(200, 2, generator=gen) * 80
        point_image = torch.randint(0, 2, (200,), generator=gen)
        points[0] = torch.tensor([20., 20.])  # box 0's centre, image 0
        point_image[0] = 0
        w = cid_point_weights(points, point_image, boxes, box_image, 4.)
        # enlarged box 0: [5, 35]^2; box 1: x [46.25, 63.75], y [45, 75]
        in0 = ((points - 20).abs() < 15).all(1) & (point_image == 0)
        in1 = ((points[:, 0] - 55).abs() < 7.5) & (
            (points[:, 1] - 60).abs() < 15) & (point_image == 1)
        self.assertAlmostEqual(float(w[in0].sum()), 1., places=5)
        self.assertAlmostEqual(float(w[in1].sum()), 1., places=5)
        self.assertEqual(float(w[~(in0 | in1)].abs().sum()), 0.)
        self.assertEqual(int(w[in0].argmax()), 0)  # peak at the centre
        empty = cid_point_weights(points, point_image, torch.zeros((0, 4)),
                                  torch.zeros((0,), dtype=torch.long), 4.)
        self.assertEqual(float(empty.abs().sum()), 0.)


if __name__ == '__main__':
    unittest.main()
