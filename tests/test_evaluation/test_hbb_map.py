# Copyright (c) mmkd_dense contributors. All rights reserved.
import unittest

import numpy as np

import mmkd_dense  # noqa: F401
from mmkd_dense.evaluation import (average_precision, box_iou_xyxy,
                                   eval_hbb_map)
from mmkd_dense.evaluation.hbb_map import devkit_gt_boxes


def _ann(boxes, labels, ig=(), ig_labels=()):
    return dict(bboxes=np.array(boxes, float).reshape(-1, 4),
                labels=np.array(labels, int),
                bboxes_ignore=np.array(ig, float).reshape(-1, 4),
                labels_ignore=np.array(ig_labels, int))


def _dets(per_class, num_classes=2):
    return [np.array(per_class.get(c, []), float).reshape(-1, 5)
            for c in range(num_classes)]


class TestHBBMap(unittest.TestCase):

    def test_iou(self):
        iou = box_iou_xyxy(np.array([[0, 0, 10, 10.]]),
                           np.array([[0, 0, 10, 20.], [5, 5, 15, 15.],
                                     [20, 20, 30, 30.]]))
        np.testing.assert_allclose(iou, [[0.5, 25 / 175, 0.0]])

    def test_ap_modes(self):
        recall, precision = np.array([0.5, 0.5]), np.array([1.0, 0.5])
        # 11 points: t = 0 .. 0.5 -> 1, t = 0.6 .. 1 -> 0
        self.assertAlmostEqual(average_precision(recall, precision,
                                                 '11points'), 6 / 11)
        self.assertAlmostEqual(average_precision(recall, precision, 'area'),
                               0.5)
        # envelope: p(r<=1) = max(0.5, 2/3)
        recall, precision = np.array([0, .5, 1.]), np.array([0, .5, 2 / 3])
        self.assertAlmostEqual(average_precision(recall, precision, 'area'),
                               2 / 3)
        with self.assertRaises(ValueError):
            average_precision(recall, precision, 'coco')

    def test_perfect_imperfect_ignore_and_classes(self):
        gts = [_ann([[0, 0, 10, 10], [20, 20, 40, 40], [50, 50, 60, 60]],
                    [0, 0, 1], ig=[[70, 70, 90, 90]], ig_labels=[0])]
        perfect = [_dets({0: [[0, 0, 10, 10, .9], [20, 20, 40, 40, .8]],
                          1: [[50, 50, 60, 60, .7]]})]
        out = eval_hbb_map(perfect, gts, 2, 0.5, '11points')
        self.assertEqual(out['mAP'], 1.0)
        self.assertEqual(out['num_gts'].tolist(), [2, 1])
        # class 0: a detection on the ignored box (0.95) is neither TP nor
        # FP; a duplicate (0.85) is FP; the IoU-0.5 box (0.6) is a TP:
        # ranks TP(.9) FP(.85) TP(.6) -> r .5 p 1, r .5 p .5, r 1 p 2/3
        # area AP = .5 * 1 + .5 * 2/3;  class 1: missed -> AP 0
        dets = [_dets({0: [[70, 70, 90, 90, .95], [0, 0, 10, 10, .9],
                           [0, 0, 10, 10, .85], [20, 20, 40, 60, .6]]})]
        out = eval_hbb_map(dets, gts, 2, 0.5, 'area')
        self.assertAlmostEqual(out['ap'][0], 0.5 + 0.5 * 2 / 3)
        self.assertEqual(out['ap'][1], 0.0)
        self.assertAlmostEqual(out['mAP'], (0.5 + 1 / 3) / 2)
        self.assertEqual(out['num_dets'].tolist(), [3, 0])
        # a class without GT is NaN and not averaged
        out = eval_hbb_map(perfect, [_ann([[0, 0, 10, 10]], [0])], 2)
        self.assertTrue(np.isnan(out['ap'][1]))
        # class 0: TP(.9) then FP(.8) after full recall -> AP 1
        self.assertEqual(out['mAP'], 1.0)
        self.assertEqual(out['num_dets'].tolist(), [2, 1])

    def test_multi_image_ranking(self):
        gts = [_ann([[0, 0, 10, 10]], [0]), _ann([[0, 0, 10, 10]], [0])]
        # image 0: FP at .95; image 1: TP at .9; image 0: TP at .5
        dets = [_dets({0: [[50, 50, 60, 60, .95], [0, 0, 10, 10, .5]]}),
                _dets({0: [[0, 0, 10, 10, .9]]})]
        out = eval_hbb_map(dets, gts, 2, 0.5, '11points')
        # ranks FP, TP, TP: (r, p) = (0, 0), (.5, .5), (1, 2/3)
        self.assertAlmostEqual(out['ap'][0], 2 / 3)

    def test_devkit_iou_plus_one(self):
        # 10x10 GT (0..9 in pixels) and its left half: VOC/DOTA devkit
        # counts 10 x 5 = 50 of 100 pixels; continuous 9 x 4 of 9 x 9
        iou = box_iou_xyxy(np.array([[0, 0, 9, 4.]]),
                           np.array([[0, 0, 9, 9.], [20, 20, 25, 25.]]),
                           offset=1.0)
        np.testing.assert_allclose(iou, [[0.5, 0.0]])
        iou = box_iou_xyxy(np.array([[0, 0, 9, 4.]]),
                           np.array([[0, 0, 9, 9.]]))
        np.testing.assert_allclose(iou, [[36 / 81]])

    def test_devkit_11_point_thresholds(self):
        # recall 3/10 = 0.29999999999999999 does not reach the devkit's
        # np.arange threshold 0.30000000000000004; exact tenths count it
        recall, precision = np.array([0.1, 0.2, 3 / 10]), np.ones(3)
        self.assertAlmostEqual(
            average_precision(recall, precision, '11points',
                              devkit_thresholds=True), 3 / 11)
        self.assertAlmostEqual(
            average_precision(recall, precision, '11points'), 4 / 11)

    def test_devkit_gt_truncation(self):
        np.testing.assert_array_equal(
            devkit_gt_boxes([[10.7, 3.2, 20.99, 15.999999999999998]]),
            [[10, 3, 20, 16]])

    def test_box_conventions(self):
        # GT written as 10.9 .. 19.9 (devkit: 10 .. 19, 100 px), detection
        # 10 .. 14.9 x 10 .. 19: devkit IoU 5.9 * 10 / 100 = .59 -> TP;
        # continuous 4 * 8.1 / (4.9 * 9 + 81 - 32.4) = .35 -> FP
        gts = [_ann([[10.9, 10.9, 19.9, 19.9]], [0])]
        dets = [_dets({0: [[10, 10, 14.9, 19, .9]]})]
        self.assertEqual(eval_hbb_map(dets, gts, 2, 0.5, '11points',
                                      'devkit')['mAP'], 1.0)
        self.assertEqual(eval_hbb_map(dets, gts, 2, 0.5, '11points')['mAP'],
                         0.0)
        # IoU exactly at the threshold: TP with >=, FP with the devkit's >
        gts = [_ann([[0, 0, 9, 9]], [0])]
        dets = [_dets({0: [[0, 0, 9, 4, .9]]})]  # devkit IoU 50/100
        self.assertEqual(eval_hbb_map(dets, gts, 2, 0.5, '11points',
                                      'devkit')['mAP'], 0.0)
        self.assertEqual(eval_hbb_map(dets, gts, 2, 0.4, '11points',
                                      'devkit')['mAP'], 1.0)
        dets = [_dets({0: [[0, 0, 9, 4.5, .9]]})]  # continuous 40.5/81
        self.assertEqual(eval_hbb_map(dets, gts, 2, 0.5, '11points',
                                      'continuous')['mAP'], 1.0)
        # 3 of 10 GT found: recall 3/10 misses the devkit's 0.3 point
        boxes = [[20 * i, 0, 20 * i + 10, 10] for i in range(10)]
        gts = [_ann(boxes, [0] * 10)]
        dets = [_dets({0: [b + [.9 - .1 * i] for i, b in
                           enumerate(boxes[:3])]})]
        self.assertAlmostEqual(eval_hbb_map(dets, gts, 2, 0.5, '11points',
                                            'devkit')['mAP'], 3 / 11)
        self.assertAlmostEqual(eval_hbb_map(dets, gts, 2, 0.5, '11points',
                                            'continuous')['mAP'], 4 / 11)
        with self.assertRaisesRegex(ValueError, 'box_convention'):
            eval_hbb_map(dets, gts, 2, box_convention='pixels')


if __name__ == '__main__':
    unittest.main()
