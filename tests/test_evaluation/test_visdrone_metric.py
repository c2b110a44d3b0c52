# Copyright (c) mmkd_dense contributors. All rights reserved.
import os.path as osp
import tempfile
import unittest

import torch

import mmkd_dense  # noqa: F401
from mmkd_dense.datasets import VISDRONE_CLASSES
from mmkd_dense.datasets.converters.visdrone import convert_visdrone_split
from mmkd_dense.evaluation import VisDroneMetric

from ..test_datasets.official_format import write_visdrone

CAR, PED, TRUCK = 3, 0, 5  # labels of categories 4, 1, 6


def _sample(img_id, preds):
    return dict(img_id=img_id, pred_instances=dict(
        bboxes=torch.tensor([p[0] for p in preds],
                            dtype=torch.float32).reshape(-1, 4),
        scores=torch.tensor([p[1] for p in preds]),
        labels=torch.tensor([p[2] for p in preds], dtype=torch.long)))


class TestVisDroneMetric(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        split = osp.join(cls.tmp.name, 'VisDrone2019-DET-val')
        write_visdrone(split, {'img': (400, 300, [
            '10,10,40,30,1,4,0,0',  # car A  -> [10, 10, 50, 40]
            '100,100,40,30,1,4,0,0',  # car B -> [100, 100, 140, 130]
            '200,150,100,100,0,0,0,0',  # ignored region [200,150,300,250]
            '300,10,50,50,0,6,0,0',  # truck, score 0 -> truck-only ignore
        ])})
        cls.ann = osp.join(cls.tmp.name, 'val.json')
        convert_visdrone_split(split, cls.ann, progress_every=None)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def _run(self, preds, **kwargs):
        m = VisDroneMetric(ann_file=self.ann, **kwargs)
        m.dataset_meta = dict(classes=VISDRONE_CLASSES)
        m.process({}, [_sample(1, preds)])
        return m.compute_metrics(m.results)

    A = ([10, 10, 50, 40], CAR)
    B = ([100, 100, 140, 130], CAR)

    def test_perfect(self):
        out = self._run([(self.A[0], .9, CAR), (self.B[0], .8, CAR)])
        self.assertEqual(out, dict(AP=1.0, AP50=1.0, AP75=1.0, AR1=0.5,
                                   AR10=1.0, AR100=1.0, AR500=1.0))

    def test_hand_computed_imperfect(self):
        # TP (.9), FP far away (.8), B missed: precision 1 up to recall .5
        # -> 101-point AP = 51 / 101 at every IoU threshold
        out = self._run([(self.A[0], .9, CAR), ([5, 200, 25, 220], .8, CAR)])
        for key in ('AP', 'AP50', 'AP75'):
            self.assertAlmostEqual(out[key], 51 / 101, places=6)
        for key in ('AR1', 'AR10', 'AR100', 'AR500'):
            self.assertAlmostEqual(out[key], 0.5, places=6)

    def test_ignore_regions(self):
        # a car detection inside the class-agnostic region, ranked first,
        # is ignored -> AP 1; inside the truck-only (score-0) box it is a
        # FP: ranks FP, TP, TP -> envelope 2/3 at every recall -> AP 2/3
        inside_region = ([210, 160, 250, 200], .95, CAR)
        out = self._run([inside_region, (self.A[0], .9, CAR),
                         (self.B[0], .8, CAR)])
        self.assertAlmostEqual(out['AP'], 1.0)
        inside_truck = ([305, 15, 345, 55], .95, CAR)
        out = self._run([inside_truck, (self.A[0], .9, CAR),
                         (self.B[0], .8, CAR)])
        self.assertAlmostEqual(out['AP'], 2 / 3, places=6)
        # a truck detection there is ignored (class-specific)
        out = self._run([([305, 15, 345, 55], .95, TRUCK),
                         (self.A[0], .9, CAR), (self.B[0], .8, CAR)])
        self.assertAlmostEqual(out['AP'], 1.0)

    def test_keeps_top_500(self):
        far = [([390, 290, 395, 295], 0.5, PED)] * 600
        m = VisDroneMetric(ann_file=self.ann)
        m.dataset_meta = dict(classes=VISDRONE_CLASSES)
        m.process({}, [_sample(1, far + [(self.A[0], .9, CAR)])])
        self.assertEqual(len(m.results[0]['scores']), 500)
        self.assertEqual(m.results[0]['scores'][0], torch.tensor(.9).item())
        out = m.compute_metrics(m.results)
        self.assertAlmostEqual(out['AR500'], 0.5)

    def test_no_detections(self):
        self.assertEqual(self._run([])['AP'], 0.0)

    def test_config_coco_metric(self):
        """configs/_base_/datasets/visdrone.py: CocoMetric (1, 100, 500)."""
        from mmengine.config import Config
        from mmengine.registry import METRICS, init_default_scope
        init_default_scope('mmdet')
        cfg = Config.fromfile(osp.join(osp.dirname(__file__),
                                       '../../configs/_base_/datasets/'
                                       'visdrone.py'))
        self.assertEqual(tuple(cfg.val_evaluator.proposal_nums),
                         (1, 100, 500))
        for ev_cfg in (cfg.val_evaluator, cfg.visdrone_full_evaluator):
            ev_cfg.ann_file = self.ann
            metric = METRICS.build(ev_cfg)
            metric.dataset_meta = dict(classes=VISDRONE_CLASSES)
            s = _sample(1, [([210, 160, 250, 200], .95, CAR),
                            (self.A[0], .9, CAR), ([5, 200, 25, 220], .8,
                                                   CAR)])
            s.update(ori_shape=(300, 400), width=400, height=300)
            metric.process({}, [s])
            out = metric.compute_metrics(metric.results)
            ap = out.get('bbox_mAP', out.get('AP'))
            self.assertAlmostEqual(ap, 0.505, places=3)  # 51/101, 3 dec.


if __name__ == '__main__':
    unittest.main()
