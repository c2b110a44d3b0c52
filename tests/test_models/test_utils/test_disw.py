# Copyright (c) mmkd_dense contributors. All rights reserved.
"""DS2D2 DISW map: hand-built cases cell for cell, and the vectorised map
against the plain per-box loop."""
import unittest
from unittest import mock

import torch

import mmkd_dense  # noqa: F401
from mmkd_dense.models.utils import disw as disw_module
from mmkd_dense.models.utils.disw import (disw_cell_ranges, disw_for_context,
                                          disw_levels_for_context, disw_map,
                                          disw_map_loop, disw_maps)
from mmkd_dense.structures import DistillBatchContext

from ..box_context import BoxSample as _Sample


def boxes_of(*per_image):
    """Flatten per-image box lists into (boxes (M, 4), image_index (M,))."""
    boxes, index = [], []
    for i, image_boxes in enumerate(per_image):
        for box in image_boxes:
            boxes.append(box)
            index.append(i)
    return (torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
            torch.tensor(index, dtype=torch.long))


class TestDISWHandBuilt(unittest.TestCase):
    """16x16 input, 4x4 map (sw = sh = 1/4) unless stated."""

    def check(self, per_image, expected, input_shape=(16, 16), hw=(4, 4)):
        boxes, index = boxes_of(*per_image)
        out = disw_map(boxes, index, len(per_image), input_shape, hw)
        self.assertEqual(out.dtype, torch.float32)
        self.assertEqual(tuple(out.shape), (len(per_image), 1, *hw))
        torch.testing.assert_close(
            out, torch.tensor(expected, dtype=torch.float32).view_as(out),
            rtol=0, atol=1e-7)
        loop = disw_map_loop(boxes, index, len(per_image), input_shape, hw)
        self.assertTrue(torch.equal(out, loop))
        return out

    def test_overlap_adds(self):
        # A [0,0,4,4]: x,y in [floor(0), ceil(1)] = [0, 1] -> 4 cells, +1/4.
        # B [4,0,16,16]: x in [1, min(3, 4)], y in [0, 3] -> 12 cells, +1/12.
        a, b = 0.25, 1 / 12
        expected = [[1 + a, 1 + a + b, 1 + b, 1 + b],
                    [1 + a, 1 + a + b, 1 + b, 1 + b],
                    [1, 1 + b, 1 + b, 1 + b],
                    [1, 1 + b, 1 + b, 1 + b]]
        out = self.check([[[0, 0, 4, 4], [4, 0, 16, 16]]], expected)
        # every object adds a total mass of exactly 1
        self.assertAlmostEqual(float((out - 1).sum()), 2.0, places=5)

    def test_border_clipping(self):
        # [10,12,40,30]: x in [2, min(3, 10)], y in [3, min(3, 8)] -> 2 cells
        # [-8,-8,2,2]: x, y in [max(0, -2), ceil(0.5)] = [0, 1] -> 4 cells
        expected = [[1.25, 1.25, 1, 1],
                    [1.25, 1.25, 1, 1],
                    [1, 1, 1, 1],
                    [1, 1, 1.5, 1.5]]
        self.check([[[10, 12, 40, 30], [-8, -8, 2, 2]]], expected)

    def test_tiny_boxes(self):
        # [5.1,5.1,5.2,5.2] -> [floor(1.275), ceil(1.3)] = [1, 2]: 4 cells.
        # [12,12,12,12] (zero size on a cell corner) -> [3, 3]: 1 cell, +1.
        expected = [[1, 1, 1, 1],
                    [1, 1.25, 1.25, 1],
                    [1, 1.25, 1.25, 1],
                    [1, 1, 1, 2]]
        self.check([[[5.1, 5.1, 5.2, 5.2], [12, 12, 12, 12]]], expected)

    def test_no_boxes_and_empty_image(self):
        self.check([[]], [[1.0] * 4] * 4)
        out = self.check([[], [[0, 0, 16, 16]]],
                         [[[1.0] * 4] * 4, [[1 + 1 / 16] * 4] * 4])
        self.assertTrue(torch.equal(out[0], torch.ones(1, 4, 4)))

    def test_non_square_odd_map(self):
        # input (32, 48), map (3, 5): sw = 5/48, sh = 3/32.
        # [10,20,30,31]: x in [floor(1.04), min(4, ceil(3.125))] = [1, 4],
        # y in [floor(1.875), min(2, ceil(2.906))] = [1, 2] -> 8 cells.
        e = 1 + 1 / 8
        expected = [[1, 1, 1, 1, 1],
                    [1, e, e, e, e],
                    [1, e, e, e, e]]
        self.check([[[10, 20, 30, 31]]], expected, input_shape=(32, 48),
                   hw=(3, 5))

    def test_cell_ranges(self):
        boxes = torch.tensor([[0., 0., 4., 4.], [10., 12., 40., 30.]])
        ranges = disw_cell_ranges(boxes, (16, 16), (4, 4))
        torch.testing.assert_close(
            ranges, torch.tensor([[0., 0., 1., 1.], [2., 3., 3., 3.]]))

    def test_large_box_keeps_fp32_increment(self):
        """The reference's fp16 map loses 1/4096 next to 1; fp32 keeps it."""
        boxes, index = boxes_of([[0, 0, 256, 256]])
        out = disw_map(boxes, index, 1, (256, 256), (64, 64))
        self.assertTrue(torch.all(out > 1.0))
        self.assertAlmostEqual(float((out - 1).sum()), 1.0, places=4)
        self.assertTrue(torch.all(out.half() == 1.0))  # what fp16 would do


class TestDISWVectorisedEqualsLoop(unittest.TestCase):

    def random_boxes(self, gen, num, input_shape):
        h, w = input_shape
        xy = torch.rand(num, 2, generator=gen) * torch.tensor([w, h]) - 8
        wh = torch.rand(num, 2, generator=gen) * torch.tensor(
            [w / 3, h / 3]) + 0.5
        return torch.cat([xy, xy + wh], dim=1)

    def test_random_batches_bit_identical(self):
        gen = torch.Generator().manual_seed(0)
        input_shape = (96, 160)
        for num, hw in [(50, (12, 20)), (30, (6, 10)), (7, (3, 5)),
                        (40, (1, 2)), (0, (12, 20))]:
            with self.subTest(num=num, hw=hw):
                boxes = self.random_boxes(gen, num, input_shape)
                index = torch.randint(0, 3, (num, ), generator=gen)
                out = disw_map(boxes, index, 3, input_shape, hw)
                ref = disw_map_loop(boxes, index, 3, input_shape, hw)
                self.assertTrue(torch.equal(out, ref))
                inside = (boxes[:, 2] > 0) & (boxes[:, 3] > 0)
                self.assertAlmostEqual(
                    float((out.double() - 1).sum()), float(inside.sum()),
                    places=3)

    def test_all_levels_at_once(self):
        gen = torch.Generator().manual_seed(4)
        input_shape = (100, 130)
        boxes = self.random_boxes(gen, 60, input_shape)
        index = torch.randint(0, 2, (60, ), generator=gen)
        sizes = [(7, 9), (4, 5), (2, 3), (1, 2), (1, 1)]
        maps = disw_maps(boxes, index, 2, input_shape, sizes)
        self.assertEqual(len(maps), len(sizes))
        for hw, out in zip(sizes, maps):
            ref = disw_map_loop(boxes, index, 2, input_shape, hw)
            self.assertTrue(torch.equal(out, ref), hw)
        empty = disw_maps(boxes[:0], index[:0], 2, input_shape, sizes)
        self.assertTrue(all(torch.equal(m, torch.ones_like(m))
                            for m in empty))

    def test_chunked_path_identical(self):
        gen = torch.Generator().manual_seed(1)
        boxes = self.random_boxes(gen, 64, (64, 64))
        index = torch.randint(0, 2, (64, ), generator=gen)
        ref = disw_map_loop(boxes, index, 2, (64, 64), (16, 16))
        with mock.patch.object(disw_module, '_MAX_CHUNK_ELEMENTS', 5 * 256):
            out = disw_map(boxes, index, 2, (64, 64), (16, 16))
        self.assertTrue(torch.equal(out, ref))


class TestDISWForContext(unittest.TestCase):

    def test_cached_per_size(self):
        ctx = DistillBatchContext(
            [_Sample([[0, 0, 4, 4]]), _Sample([])], (16, 16))
        first = disw_for_context(ctx, (4, 4), torch.device('cpu'))
        self.assertIs(first, disw_for_context(ctx, (4, 4),
                                              torch.device('cpu')))
        self.assertEqual(tuple(first.shape), (2, 1, 4, 4))
        self.assertAlmostEqual(float(first[0, 0, 0, 0]), 1.25)
        self.assertTrue(torch.equal(first[1], torch.ones(1, 4, 4)))
        other = disw_for_context(ctx, (2, 2), torch.device('cpu'))
        self.assertEqual(tuple(other.shape), (2, 1, 2, 2))
        levels = disw_levels_for_context(ctx, [(4, 4), (2, 2)],
                                         torch.device('cpu'))
        self.assertIs(levels, disw_levels_for_context(
            ctx, [(4, 4), (2, 2)], torch.device('cpu')))
        self.assertTrue(torch.equal(levels[0], first))
        self.assertTrue(torch.equal(levels[1], other))


if __name__ == '__main__':
    unittest.main()
