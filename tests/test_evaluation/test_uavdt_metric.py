# Copyright (c) mmkd_dense contributors. All rights reserved.
"""UAVDTMetric on a json written by uavdt2coco from official-format files:
AP at IoU 0.7 (UAVDT protocol), COCO AP, ignore regions."""
import os.path as osp
import tempfile
import unittest

import mmkd_dense  # noqa: F401
from mmkd_dense.datasets.converters.uavdt import (UAVDT_CLASSES,
                                                  convert_uavdt_split)
from mmkd_dense.evaluation import UAVDTMetric

from ..test_datasets.uavdt_format import gt_line, ignore_line, write_uavdt
from .test_visdrone_metric import _sample

CAR, TRUCK = 0, 1
REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


class TestUAVDTMetric(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        root = osp.join(cls.tmp.name, 'UAVDT')
        write_uavdt(root, {'M0203': (1, [
            gt_line(1, 1, 0, 0, 100, 100, category=1),  # car A
            gt_line(1, 2, 200, 0, 100, 100, category=1),  # car B
        ], [ignore_line(1, 300, 100, 100, 100)])}, size=(400, 200))
        cls.ann = osp.join(cls.tmp.name, 'test.json')
        convert_uavdt_split(root, cls.ann, ['M0203'], progress=False)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def _run(self, preds, **kwargs):
        m = UAVDTMetric(ann_file=self.ann, **kwargs)
        m.dataset_meta = dict(classes=UAVDT_CLASSES)
        m.process({}, [_sample(1, preds)])
        return m.compute_metrics(m.results)

    A = [0, 0, 100, 100]
    B = [200, 0, 300, 100]
    # IoU 0.82 with A: a TP at thresholds 0.50 ... 0.80 (7 of 10)
    A82 = [0, 0, 100, 82]
    # IoU 0.67 with B: a TP at 0.50 ... 0.65 (4 of 10), a FP at 0.70
    B67 = [200, 0, 300, 67]
    # inside the ignore region [300, 100, 400, 200]
    IN_IGNORE = [310, 110, 390, 190]

    def test_perfect(self):
        out = self._run([(self.A, .9, CAR), (self.B, .8, CAR)])
        self.assertEqual(out, dict(AP=1.0, AP50=1.0, AP70=1.0, AP75=1.0,
                                   AR1=0.5, AR10=1.0, AR100=1.0,
                                   AR500=1.0))

    def test_hand_computed_imperfect(self):
        # ranked: FP in the ignore region (.95, ignored), A82 (.9), B67 (.8)
        out = self._run([(self.IN_IGNORE, .95, CAR), (self.A82, .9, CAR),
                         (self.B67, .8, CAR)])
        # IoU 0.5-0.65: both TP -> AP 1. IoU 0.7-0.8: TP then FP, B
        # missed: precision 1 up to recall 0.5 -> 101-point AP = 51/101.
        # IoU 0.85-0.95: both FP -> 0.
        self.assertAlmostEqual(out['AP50'], 1.0)
        self.assertAlmostEqual(out['AP70'], 51 / 101, places=6)
        self.assertAlmostEqual(out['AP75'], 51 / 101, places=6)
        self.assertAlmostEqual(out['AP'], (4 + 3 * 51 / 101) / 10, places=6)
        # recall (AR): 1 at 4 thresholds, 0.5 at 3, 0 at 3 -> 0.55
        self.assertAlmostEqual(out['AR500'], 0.55, places=6)
        # without the ignore region the first detection is a FP: at IoU
        # 0.7 precision is 1/2 at recall 0.5 -> AP70 = 51 / 101 / 2
        m = UAVDTMetric(ann_file=self.ann)
        m.dataset_meta = dict(classes=UAVDT_CLASSES)
        m.process({}, [_sample(1, [([0, 150, 20, 170], .95, CAR),
                                   (self.A82, .9, CAR),
                                   (self.B67, .8, CAR)])])
        self.assertAlmostEqual(m.compute_metrics(m.results)['AP70'],
                               51 / 101 / 2, places=6)

    def test_ignore_region_is_class_agnostic(self):
        out = self._run([(self.IN_IGNORE, .95, TRUCK), (self.A, .9, CAR),
                         (self.B, .8, CAR)])
        self.assertEqual((out['AP'], out['AP70']), (1.0, 1.0))

    def test_iou_thrs_must_contain_07(self):
        with self.assertRaisesRegex(ValueError, 'must contain 0.7'):
            UAVDTMetric(ann_file=self.ann, iou_thrs=[0.5, 0.75])
        out = self._run([(self.A82, .9, CAR), (self.B67, .8, CAR)],
                        iou_thrs=[0.7])
        self.assertAlmostEqual(out['AP70'], 51 / 101, places=6)
        self.assertEqual((out['AP50'], out['AP75']), (-1.0, -1.0))

    def test_prefix_and_no_detections(self):
        self.assertEqual(UAVDTMetric.default_prefix, 'uavdt')
        self.assertEqual(self._run([])['AP70'], 0.0)

    def test_config_evaluator(self):
        """configs/_base_/datasets/uavdt.py: UAVDTMetric, 500 dets."""
        from mmengine.config import Config
        from mmengine.registry import METRICS, init_default_scope
        init_default_scope('mmdet')
        cfg = Config.fromfile(
            osp.join(REPO, 'configs/_base_/datasets/uavdt.py'))
        self.assertEqual(tuple(cfg.val_evaluator.max_dets),
                         (1, 10, 100, 500))
        cfg.val_evaluator.ann_file = self.ann
        metric = METRICS.build(cfg.val_evaluator)
        self.assertIsInstance(metric, UAVDTMetric)
        metric.dataset_meta = dict(classes=UAVDT_CLASSES)
        metric.process({}, [_sample(1, [(self.IN_IGNORE, .95, CAR),
                                        (self.A82, .9, CAR),
                                        (self.B67, .8, CAR)])])
        out = metric.compute_metrics(metric.results)
        self.assertAlmostEqual(out['AP70'], 51 / 101, places=6)


if __name__ == '__main__':
    unittest.main()
