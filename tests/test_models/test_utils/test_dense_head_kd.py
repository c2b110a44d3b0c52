# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Shared dense-head KD helpers: head kinds, the head's own targets, flat
order, decoding, GIoU, module lookup."""
import math
import unittest

import torch
from torch import nn

import mmkd_dense  # noqa: F401
from mmkd_dense.models.utils import dense_head_kd as dk
from tests.test_models.test_losses._head_kd_helpers import (SIZES,
                                                            HeadsOnly,
                                                            build_head,
                                                            context,
                                                            head_cfg, samples)

CPU = torch.device('cpu')


class TestHeadKindAndLookup(unittest.TestCase):

    def test_kinds(self):
        for kind, expected in (('retina', 'anchor'), ('gfl', 'gfl'),
                               ('fcos', 'point')):
            self.assertEqual(dk.head_kind(build_head(head_cfg(kind))),
                             expected)
        with self.assertRaisesRegex(TypeError, 'not a supported dense head'):
            dk.head_kind(nn.Conv2d(1, 1, 1))

    def test_find_module(self):
        model = HeadsOnly(nn.Linear(2, 2))
        self.assertIs(dk.find_module(model, 'bbox_head', 'X.head'),
                      model.bbox_head)
        with self.assertRaisesRegex(AttributeError,
                                    r'X.head="neck" names no module .*'
                                    r"\['bbox_head'\]"):
            dk.find_module(model, 'neck', 'X.head')


class TestDenseHeadTargets(unittest.TestCase):

    def test_anchor_and_gfl_match_get_targets(self):
        from mmdet.models.utils import unpack_gt_instances
        data = samples((3, 0))
        gts, ignored, metas = unpack_gt_instances(data)
        for kind in ('retina', 'gfl'):
            with self.subTest(kind=kind):
                head = build_head(head_cfg(kind))
                t = dk.dense_head_targets(head, SIZES, data, CPU)
                anchors, valid = head.get_anchors(SIZES, metas, device=CPU)
                ref = head.get_targets(anchors, valid, gts, metas,
                                       batch_gt_instances_ignore=ignored)
                ref = ref[1:] if kind == 'gfl' else ref
                labels = torch.cat([x.reshape(-1) for x in ref[0]])
                torch.testing.assert_close(t.labels, labels)
                torch.testing.assert_close(
                    t.label_weights,
                    torch.cat([x.reshape(-1) for x in ref[1]]))
                self.assertEqual(t.avg_factor, float(ref[4]))
                self.assertGreater(t.num_pos, 0)
                # image 2 has no GT: all its positives are in image 1
                # (flat order: level, image, location, anchor)
                first = torch.zeros_like(t.pos_mask)
                start = 0
                for n in t.num_level_priors:
                    first[start:start + n // 2] = True
                    start += n
                self.assertTrue(bool((t.pos_mask <= first).all()))
                # mmdet's SamplingResult counts max(#pos, 1) per image
                self.assertEqual(t.avg_factor, t.num_pos + 1)
                self.assertEqual(tuple(t.flat_priors.shape),
                                 (t.labels.numel(), 4))

    def test_point_head(self):
        head = build_head(head_cfg('fcos'))
        t = dk.dense_head_targets(head, SIZES, samples((3, 1)), CPU)
        self.assertIsNone(t.label_weights)
        self.assertEqual(t.avg_factor, float(t.num_pos))
        self.assertEqual(tuple(t.flat_priors.shape), (2 * (80 + 20), 2))
        self.assertEqual(t.flat_strides.tolist(),
                         [8.0] * 160 + [16.0] * 40)
        empty = dk.dense_head_targets(head, SIZES, samples((0, 0)), CPU)
        self.assertEqual((empty.num_pos, empty.avg_factor), (0, 1.0))

    def test_cached_once_per_batch(self):
        head = build_head(head_cfg('retina'))
        ctx = context(samples())
        a = dk.cached_dense_head_targets(ctx, head, SIZES, CPU)
        b = dk.cached_dense_head_targets(ctx, head, SIZES, CPU)
        self.assertIs(a, b)
        c = dk.cached_dense_head_targets(context(samples()), head, SIZES,
                                         CPU)
        self.assertIsNot(a, c)


class TestFlattenAndDecode(unittest.TestCase):

    def test_flatten_order(self):
        # value = 1000 * level + 100 * image + 10 * h + w, 2 values/prior
        levels = []
        for lvl, (h, w) in enumerate(((2, 3), (1, 2))):
            grid = torch.zeros(2, 2, h, w)
            for i in range(2):
                for y in range(h):
                    for x in range(w):
                        grid[i, :, y, x] = 1000 * lvl + 100 * i + 10 * y + x
            levels.append(grid)
        flat = dk.flatten_level_outputs(levels, 2)
        self.assertEqual(flat[:, 0].tolist(), [
            0, 1, 2, 10, 11, 12, 100, 101, 102, 110, 111, 112, 1000, 1001,
            1100, 1101
        ])
        with self.assertRaisesRegex(ValueError, 'not a multiple of 4'):
            dk.flatten_level_outputs([torch.zeros(1, 6, 1, 1)], 4)

    def test_gfl_integral(self):
        logits = torch.full((1, 4 * 9), -1e4)
        for e, b in enumerate((0, 3, 8, 5)):
            logits[0, e * 9 + b] = 0.0
        self.assertEqual(dk.gfl_integral(logits, 8).tolist(),
                         [[0.0, 3.0, 8.0, 5.0]])
        uniform = dk.gfl_integral(torch.zeros(2, 36), 8)
        torch.testing.assert_close(uniform, torch.full((2, 4), 4.0))

    def test_decode(self):
        data = samples((2, 0))
        # anchors: zero deltas give the anchors back
        retina = build_head(head_cfg('retina'))
        t = dk.dense_head_targets(retina, SIZES, data, CPU)
        boxes = dk.decode_boxes(retina, torch.zeros(len(t.labels), 4), t)
        torch.testing.assert_close(boxes, t.flat_priors)
        # GFL: anchor centre -/+ expected distance x stride
        gfl = build_head(head_cfg('gfl'))
        t = dk.dense_head_targets(gfl, SIZES, data, CPU)
        logits = torch.full((len(t.labels), 36), -1e4)
        logits[:, [1, 9 + 2, 18 + 3, 27 + 4]] = 0.0  # l=1, t=2, r=3, b=4
        boxes = dk.decode_boxes(gfl, logits, t)
        centre = (t.flat_priors[:, :2] + t.flat_priors[:, 2:]) / 2
        s = t.flat_strides[:, None]
        expected = torch.cat([centre - torch.tensor([1., 2.]) * s,
                              centre + torch.tensor([3., 4.]) * s], 1)
        torch.testing.assert_close(boxes, expected)
        # FCOS: distances in strides in training mode, pixels in eval mode
        fcos = build_head(head_cfg('fcos'))
        t = dk.dense_head_targets(fcos, SIZES, data, CPU)
        dist = torch.ones(len(t.labels), 4)
        fcos.train()
        trained = dk.decode_boxes(fcos, dist, t)
        torch.testing.assert_close(
            trained[:, 2] - trained[:, 0], 2 * t.flat_strides)
        fcos.eval()
        evaluated = dk.decode_boxes(fcos, dist, t)
        torch.testing.assert_close(evaluated[:, 2] - evaluated[:, 0],
                                   torch.full_like(t.flat_strides, 2.0))
        with self.assertRaisesRegex(ValueError, 'same prior generator'):
            dk.decode_boxes(fcos, dist[:5], t)

    def test_aligned_giou_loss(self):
        pred = torch.tensor([[0., 0., 2., 2.], [4., 4., 4., 6.]])
        target = torch.tensor([[1., 1., 3., 3.], [4., 4., 4., 6.]])
        # IoU 1/7, enclosing 3x3 = 9, union 7: GIoU = 1/7 - 2/9
        loss = dk.aligned_giou_loss(pred, target)
        self.assertAlmostEqual(float(loss[0]), 1 - (1 / 7 - 2 / 9),
                               places=5)
        self.assertEqual(float(loss[1]), 0.0)  # identical zero-width box
        from mmdet.models.losses import GIoULoss
        self.assertAlmostEqual(  # mmdet's counts that one as 1
            float(GIoULoss(reduction='none')(pred[1:], target[1:])), 1.0,
            places=5)
        self.assertEqual(tuple(dk.aligned_giou_loss(
            torch.zeros(0, 4), torch.zeros(0, 4)).shape), (0,))
        self.assertTrue(math.isfinite(float(loss.sum())))


if __name__ == '__main__':
    unittest.main()
