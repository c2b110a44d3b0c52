# Copyright (c) mmkd_dense contributors. All rights reserved.
import json
import os.path as osp
import tempfile
import unittest
from collections import defaultdict

import numpy as np
import torch

import mmkd_dense  # noqa: F401
from mmkd_dense.datasets import DOTA_V10_CLASSES
from mmkd_dense.evaluation import DOTAHBBMetric
from mmkd_dense.evaluation.dota_hbb_metric import devkit_batched_nms


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
        self.assertEqual(m.box_convention, 'devkit')
        with self.assertRaisesRegex(ValueError, "box_convention.*'devkit'"):
            DOTAHBBMetric(full_ann_file=self.full, box_convention='voc')


# --------------------------------------------------------------------------
# DOTA_devkit task 2, written out independently of the code under test:
# ``dota_evaluation_task2.py`` (``parse_gt``, ``voc_eval``, ``voc_ap`` with
# use_07_metric=True as in its ``main``) and the HBB merge of
# ``ResultMerge.py`` (``py_cpu_nms``).
# --------------------------------------------------------------------------
def devkit_parse_gt(lines):
    """DOTA HBB label lines -> objects; coordinates of the 1st and 3rd
    corner, each truncated by int(float(.))."""
    objects = []
    for line in lines:
        f = line.strip().split(' ')
        objects.append(dict(
            name=f[8], difficult=int(f[9]) if len(f) == 10 else 0,
            bbox=[int(float(f[0])), int(float(f[1])), int(float(f[4])),
                  int(float(f[5]))]))
    return objects


def devkit_ap_07(rec, prec):
    ap = 0.
    for t in np.arange(0., 1.1, 0.1):
        p = 0 if np.sum(rec >= t) == 0 else np.max(prec[rec >= t])
        ap = ap + p / 11.
    return ap


def devkit_class_ap(labels, dets, classname, ovthresh=0.5):
    """labels: image -> label lines; dets: [(image, score, x1, y1, x2,
    y2)] of this class."""
    recs, npos = {}, 0
    for image, lines in labels.items():
        objs = [o for o in devkit_parse_gt(lines) if o['name'] == classname]
        difficult = [bool(o['difficult']) for o in objs]
        npos += sum(not d for d in difficult)
        recs[image] = dict(bbox=[o['bbox'] for o in objs],
                           difficult=difficult, det=[False] * len(objs))
    order = sorted(range(len(dets)), key=lambda i: -dets[i][1])
    tp, fp = np.zeros(len(dets)), np.zeros(len(dets))
    for d, i in enumerate(order):
        image, _, x1, y1, x2, y2 = dets[i]
        rec = recs[image]
        ovmax, jmax = -np.inf, -1
        for j, (gx1, gy1, gx2, gy2) in enumerate(rec['bbox']):
            iw = max(min(gx2, x2) - max(gx1, x1) + 1., 0.)
            ih = max(min(gy2, y2) - max(gy1, y1) + 1., 0.)
            inter = iw * ih
            union = ((x2 - x1 + 1.) * (y2 - y1 + 1.) +
                     (gx2 - gx1 + 1.) * (gy2 - gy1 + 1.) - inter)
            if inter / union > ovmax:  # first maximum, as np.argmax
                ovmax, jmax = inter / union, j
        if ovmax > ovthresh:
            if not rec['difficult'][jmax]:
                if not rec['det'][jmax]:
                    tp[d] = 1.
                    rec['det'][jmax] = True
                else:
                    fp[d] = 1.
        else:
            fp[d] = 1.
    tp, fp = np.cumsum(tp), np.cumsum(fp)
    rec = tp / float(npos)
    prec = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
    return devkit_ap_07(rec, prec)


def devkit_hbb_nms(dets, thresh):
    """dets: [(x1, y1, x2, y2, score)] of one image and class; kept rows."""
    order = sorted(range(len(dets)), key=lambda i: -dets[i][4])
    keep = []
    while order:
        i = order.pop(0)
        keep.append(i)
        rest = []
        for j in order:
            a, b = dets[i], dets[j]
            w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]) + 1)
            h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]) + 1)
            inter = w * h
            ovr = inter / ((a[2] - a[0] + 1) * (a[3] - a[1] + 1) +
                           (b[2] - b[0] + 1) * (b[3] - b[1] + 1) - inter)
            if ovr <= thresh:
                rest.append(j)
        order = rest
    return [dets[i] for i in keep]


def label_line(box, name, difficult):
    x1, y1, x2, y2 = box
    return (f'{x1:.1f} {y1:.1f} {x2:.1f} {y1:.1f} {x2:.1f} {y2:.1f} '
            f'{x1:.1f} {y2:.1f} {name} {difficult}')


def write_full_json(path, labels, sizes):
    """``<split>_full.json`` as ``dota_split.py`` writes it from the same
    label lines (bbox = x, y, w, h of the polygon's extent)."""
    name_to_id = {n: i + 1 for i, n in enumerate(DOTA_V10_CLASSES)}
    images, anns = [], []
    for img_id, (stem, lines) in enumerate(sorted(labels.items()), 1):
        images.append(dict(id=img_id, file_name=f'{stem}.png',
                           width=sizes[stem][0], height=sizes[stem][1]))
        for line in lines:
            f = line.split(' ')
            xs, ys = [float(v) for v in f[0:8:2]], [float(v) for v in f[1:8:2]]
            x, y = min(xs), min(ys)
            w, h = max(xs) - x, max(ys) - y
            anns.append(dict(id=len(anns) + 1, image_id=img_id,
                             category_id=name_to_id[f[8]],
                             bbox=[x, y, w, h], area=w * h,
                             iscrowd=int(f[9])))
    with open(path, 'w') as f:
        json.dump(dict(images=images, annotations=anns,
                       categories=[dict(id=i, name=n)
                                   for n, i in name_to_id.items()]), f)


class TestDevkitTask2(unittest.TestCase):
    """DOTAHBBMetric's default equals the DOTA_devkit task-2 numbers."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.full = osp.join(self.tmp.name, 'val_full.json')

    def tearDown(self):
        self.tmp.cleanup()

    def _evaluate(self, labels, sizes, samples, **kwargs):
        write_full_json(self.full, labels, sizes)
        m = DOTAHBBMetric(full_ann_file=self.full, patch_map=False, **kwargs)
        m.dataset_meta = dict(classes=DOTA_V10_CLASSES)
        m.process({}, samples)
        return m.evaluate_full_images(m.results, DOTA_V10_CLASSES)

    def test_hand_computed(self):
        # plane: G1 (fractional label, int -> 10 10 20 20), G2 4x4 px,
        # G3 9x9 px, G4 (label 80.9 -> 80), G5 difficult
        gts = [([10.7, 10.2, 20.9, 20.6], 0), ([40, 40, 44, 44], 0),
               ([60, 60, 69, 69], 0), ([80.9, 80.9, 89.9, 89.9], 0),
               ([100, 100, 110, 110], 1)]
        labels = {'P0001': [label_line(b, 'plane', d) for b, d in gts]}
        dets = [([100, 100, 110, 110], .95),  # on the difficult GT: ignored
                ([10, 10, 20, 20], .9),       # devkit IoU 1: TP (both)
                ([40, 40, 44, 41.9], .8),     # devkit 14.5/25 = .58 TP;
                                              # continuous 7.6/16 = .475 FP
                ([60, 60, 69, 64], .7),       # devkit 50/100 = .5: FP (>)
                ([80, 80, 86, 89], .6)]       # devkit 70/100 TP; cont. .44
        sample = _sample('P0001.png', [(b, s, 0) for b, s in dets])
        out = self._evaluate(labels, {'P0001': (200, 200)}, [sample])
        # devkit: TP TP FP TP of 4 -> (r, p) = (.25, 1) (.5, 1) (.5, 2/3)
        # (.75, .75): t = 0 .. .5 -> 1, t = .6, .7 -> .75, t >= .8 -> 0
        self.assertAlmostEqual(out['ap'][0], 7.5 / 11)
        self.assertAlmostEqual(out['mAP'], 7.5 / 11)
        self.assertEqual(out['num_gts'][0], 4)
        self.assertAlmostEqual(
            devkit_class_ap(labels, [('P0001', s, *b) for b, s in dets],
                            'plane'), 7.5 / 11)
        # the previous convention: only the .9 detection is a TP, recall .25
        out = self._evaluate(labels, {'P0001': (200, 200)}, [sample],
                             box_convention='continuous')
        self.assertAlmostEqual(out['ap'][0], 3 / 11)

    def test_generated_small_near_threshold(self):
        rng = np.random.RandomState(0)
        classes = ['plane', 'ship', 'small-vehicle']
        ids = [DOTA_V10_CLASSES.index(name) for name in classes]
        labels, sizes, samples = {}, {}, []
        all_dets = defaultdict(list)  # class -> [(image, score, box)]
        for k in range(4):
            stem = f'P{k:04d}'
            sizes[stem] = (300, 300)
            lines, preds = [], []
            for _ in range(12):
                c = rng.randint(len(classes))
                w, h = rng.uniform(3, 15, size=2)  # small, as in DOTA
                x1, y1 = rng.uniform(0, 270, size=2)
                box = np.round([x1, y1, x1 + w, y1 + h], 1)
                lines.append(label_line(box, classes[c],
                                        int(rng.rand() < 0.15)))
                for _ in range(rng.choice([0, 1, 1, 1, 2])):
                    # edges moved by ~1/8 of the size and ~1 px: IoUs
                    # around .5, where "+1 pixel" and int GT matter
                    jitter = (rng.normal(0, 0.12, 4) * [w, h, w, h] +
                              rng.normal(0, 0.8, 4))
                    det = box + jitter
                    det[2:] = np.maximum(det[2:], det[:2] + 0.5)
                    preds.append((det.tolist(), rng.rand(), ids[c]))
            for _ in range(3):  # false positives
                x1, y1 = rng.uniform(0, 280, size=2)
                preds.append(([x1, y1, x1 + 10, y1 + 8], rng.rand(),
                              ids[rng.randint(len(classes))]))
            labels[stem] = lines
            sample = _sample(f'{stem}.png', preds)
            samples.append(sample)
            p = sample['pred_instances']  # float32, as the metric sees them
            for box, score, c in zip(p['bboxes'].tolist(),
                                     p['scores'].tolist(),
                                     p['labels'].tolist()):
                all_dets[DOTA_V10_CLASSES[c]].append((stem, score, box))
        # the devkit merges (class-wise "+1" NMS at 0.3), then evaluates
        expected = {}
        for name in classes:
            merged = []
            for stem in labels:
                rows = [b + [s] for im, s, b in all_dets[name] if im == stem]
                merged += [(stem, r[4], *r[:4])
                           for r in devkit_hbb_nms(rows, 0.3)]
            expected[name] = devkit_class_ap(labels, merged, name)
        out = self._evaluate(labels, sizes, samples)
        for name in classes:
            self.assertAlmostEqual(
                out['ap'][DOTA_V10_CLASSES.index(name)], expected[name],
                places=12, msg=name)
        self.assertAlmostEqual(out['mAP'], np.mean(list(expected.values())),
                               places=12)
        # the two conventions differ on such small, near-threshold boxes
        cont = self._evaluate(labels, sizes, samples,
                              box_convention='continuous')
        self.assertGreater(np.nanmax(np.abs(cont['ap'] - out['ap'])), 0.02)
        self.assertNotAlmostEqual(cont['mAP'], out['mAP'], places=3)

    def test_merge_nms_plus_one(self):
        # two 10x10 boxes overlapping by 3 px: continuous IoU 30/170 = .176,
        # devkit 4*11/(2*121 - 44) = .222; threshold .2 separates them
        boxes = np.array([[0, 0, 10, 10], [7, 0, 17, 10], [7, 0, 17, 10]],
                         float)
        keep = devkit_batched_nms(boxes, np.array([.9, .8, .7]),
                                  np.array([0, 0, 1]), 0.2)
        self.assertEqual(keep.tolist(), [0, 2])
        keep = devkit_batched_nms(boxes, np.array([.9, .8, .7]),
                                  np.array([0, 0, 1]), 0.25)
        self.assertEqual(keep.tolist(), [0, 1, 2])


if __name__ == '__main__':
    unittest.main()
