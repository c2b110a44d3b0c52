# Copyright (c) mmkd_dense contributors. All rights reserved.
import json
import os.path as osp
import tempfile
import unittest

import torch

import mmkd_dense  # noqa: F401
from mmkd_dense.datasets import DOTA_V10_CLASSES
from mmkd_dense.evaluation import DOTAHBBMetric


def _t(x):
    return torch.tensor(x, dtype=torch.float32).reshape(-1, 4)


def _sample(name, preds, gts=(), ignored=()):
    """preds: list of (box, score, label); gts/ignored: (box, label)."""
    return dict(
        img_path=f'data/DOTA/split_1024/val/images/{name}',
        pred_instances=dict(
            bboxes=_t([p[0] for p in preds]),
            scores=torch.tensor([p[1] for p in preds]),
            labels=torch.tensor([p[2] for p in preds], dtype=torch.long)),
        gt_instances=dict(bboxes=_t([g[0] for g in gts]),
                          labels=torch.tensor([g[1] for g in gts],
                                              dtype=torch.long)),
        ignored_instances=dict(bboxes=_t([g[0] for g in ignored]),
                               labels=torch.tensor([g[1] for g in ignored],
                                                   dtype=torch.long)))


class TestDOTAHBBMetric(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.full = osp.join(self.tmp.name, 'val_full.json')
        # full image 2000 x 1000: A (class 0), B (class 1) crossing x=1024,
        # C (class 0), D difficult (class 0)
        anns = [([100, 100, 100, 100], 1, 0), ([1000, 100, 100, 100], 2, 0),
                ([300, 300, 50, 50], 1, 0), ([1800, 800, 40, 40], 1, 1)]
        with open(self.full, 'w') as f:
            json.dump(dict(
                images=[dict(id=1, file_name='P0001.png', width=2000,
                             height=1000),
                        dict(id=2, file_name='P0002.png', width=500,
                             height=500)],
                annotations=[dict(id=i + 1, image_id=1, bbox=b,
                                  category_id=c, iscrowd=d, area=b[2] * b[3])
                             for i, (b, c, d) in enumerate(anns)],
                categories=[dict(id=i + 1, name=n)
                            for i, n in enumerate(DOTA_V10_CLASSES)]), f)

    def tearDown(self):
        self.tmp.cleanup()

    def _metric(self, **kwargs):
        m = DOTAHBBMetric(full_ann_file=self.full, **kwargs)
        m.dataset_meta = dict(classes=DOTA_V10_CLASSES)
        return m

    def _patches(self, with_c=True, with_fp=False):
        p0 = [([100, 100, 200, 200], .9, 0), ([1000, 100, 1024, 200], .5, 1)]
        if with_c:
            p0.append(([300, 300, 350, 350], .6, 0))
        # second window starts at x = 2000 - 1024 = 976
        p1 = [([24, 100, 124, 200], .8, 1)]
        if with_fp:
            p1.append(([524, 500, 624, 600], .7, 0))
        gt0 = [([100, 100, 200, 200], 0), ([300, 300, 350, 350], 0)]
        gt1 = [([24, 100, 124, 200], 1)]
        return [_sample('P0001__1024__0___0.png', p0, gt0),
                _sample('P0001__1024__976___0.png', p1, gt1,
                        ignored=[([824, 800, 864, 840], 0)])]

    def test_perfect(self):
        m = self._metric()
        m.process({}, self._patches())
        out = m.compute_metrics(m.results)
        self.assertEqual(out, dict(patch_mAP=1.0, mAP=1.0))

    def test_hand_computed_imperfect(self):
        m = self._metric()
        m.process({}, self._patches(with_c=False, with_fp=True))
        out = m.compute_metrics(m.results)
        # class 0 full image: TP(.9) FP(.7), C missed -> r .5 p 1 -> 6/11;
        # class 1: B TP(.8), clipped copy (IoU .24 < .3 survives NMS) FP(.5)
        # -> 1.0. mAP = (6/11 + 1) / 2. Same numbers per patch.
        self.assertAlmostEqual(out['mAP'], (6 / 11 + 1) / 2)
        self.assertAlmostEqual(out['patch_mAP'], (6 / 11 + 1) / 2)
        # area mode: class 0 -> 0.5
        m = self._metric(eval_mode='area')
        m.process({}, self._patches(with_c=False, with_fp=True))
        self.assertAlmostEqual(m.compute_metrics(m.results)['mAP'], 0.75)

    def test_merge_nms_and_names(self):
        m = self._metric(merge_nms_iou_thr=0.5)
        # the same full-image box predicted from two patches: merged once
        samples = [
            _sample('P0001__1024__0___0.png',
                    [([1000, 100, 1024, 200], .4, 1),
                     ([100, 100, 200, 200], .9, 0)]),
            _sample('P0001__1024__976___0.png',
                    [([24, 100, 124, 200], .8, 1)]),
            _sample('P0001__1024__900___0.png',
                    [([100, 100, 200, 200], .7, 1)])]
        m.process({}, samples)
        out = m.evaluate_full_images(m.results, DOTA_V10_CLASSES)
        merged = out['merged']['P0001']
        self.assertEqual(merged['bboxes'].tolist(),
                         [[100, 100, 200, 200], [1000, 100, 1100, 200],
                          [1000, 100, 1024, 200]])
        self.assertEqual(merged['labels'].tolist(), [0, 1, 1])
        # a non-patch file name is a full image at offset 0
        m = self._metric(patch_map=False)
        m.process({}, [_sample('P0002.png', [([1, 1, 5, 5], .5, 0)])])
        self.assertEqual(m.compute_metrics(m.results), dict(mAP=0.0))
        m = self._metric(patch_map=False)
        m.process({}, [_sample('P0009__1024__0___0.png', [])])
        with self.assertRaisesRegex(ValueError, 'not in full_ann_file'):
            m.compute_metrics(m.results)

    def test_config_builds(self):
        from mmengine.config import Config
        from mmengine.registry import METRICS
        cfg = Config.fromfile(osp.join(osp.dirname(__file__),
                                       '../../configs/_base_/datasets/'
                                       'dota_hbb.py'))
        cfg.val_evaluator.full_ann_file = self.full
        m = METRICS.build(cfg.val_evaluator)
        self.assertIsInstance(m, DOTAHBBMetric)
        self.assertEqual((m.eval_mode, m.merge_nms_iou_thr), ('11points',
                                                              0.3))


if __name__ == '__main__':
    unittest.main()
