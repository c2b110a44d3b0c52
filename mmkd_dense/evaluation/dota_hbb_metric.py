# Copyright (c) mmkd_dense contributors. All rights reserved.
"""DOTA horizontal-box evaluation on patches and on merged full images."""
import json
import logging
import os.path as osp
from collections import defaultdict
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.fileio import get_local_path
from mmengine.logging import print_log

from ..registry import METRICS
from .dota_merge import merge_patch_detections, parse_patch_name
from .hbb_map import BOX_CONVENTIONS, box_iou_xyxy, eval_hbb_map

__all__ = ['DOTAHBBMetric', 'devkit_batched_nms']


@METRICS.register_module()
class DOTAHBBMetric(BaseMetric):
    """mAP@IoU for DOTA horizontal boxes, per patch and per full image.

    Patch level: each patch is an image, GT from the data sample
    (``gt_instances`` / ``ignored_instances`` = difficult). Full-image
    level (the DOTA protocol): detections of all patches of an image are
    shifted by the patch offset parsed from the file name
    ``<image>__<size>__<x>___<y>.png`` and merged with class-wise NMS, then
    compared with the full-image GT of ``full_ann_file`` (the
    ``<split>_full.json`` written by ``dota_split.py``; ``iscrowd`` =
    difficult = ignored). Images whose name is not a patch name count as
    full images at offset (0, 0).

    By default the comparison reproduces the DOTA_devkit task-2 evaluation
    (``dota_evaluation_task2.py``): GT coordinates truncated to integers as
    the devkit parses its label files, VOC "+1 pixel" box areas and
    intersections, a match only for IoU strictly above ``iou_thr``, the
    VOC07 11-point AP with the devkit's thresholds, difficult GT ignored
    (neither TP nor FP, not counted as positives). The patch mAP uses the
    same rules, and so does the merge NMS (the devkit's ``ResultMerge.py``
    ``py_cpu_nms``: "+1 pixel" IoU, a box is dropped when its IoU with a
    kept box of its class is above ``merge_nms_iou_thr``).
    ``box_convention='continuous'`` gives the previous
    behaviour (continuous areas, GT as stored, IoU >= ``iou_thr``; mmdet's
    ``eval_map``). See ``docs/methods.md`` section 7.

    Args:
        full_ann_file (str, optional): full-image COCO json; ``None``
            disables the full-image metric.
        iou_thr (float): IoU threshold (DOTA: 0.5).
        eval_mode (str): ``'11points'`` (DOTA devkit task 2, the
            default) or ``'area'``.
        box_convention (str): ``'devkit'`` (default, DOTA_devkit task-2
            rules) or ``'continuous'`` (see above).
        merge_nms_iou_thr (float, optional): NMS IoU when merging patches
            (DOTA devkit HBB merge uses 0.3); ``None`` disables NMS.
        merge_max_per_img (int, optional): cap on merged boxes per image.
        patch_map (bool): also report the patch-level mAP.
        backend_args (dict, optional): for reading ``full_ann_file``.
        collect_device (str): ``'cpu'`` or ``'gpu'``.
        prefix (str, optional): metric prefix, default ``'dota'``.

    Returns (``compute_metrics``): ``mAP`` (full images), ``patch_mAP``.
    """

    default_prefix: Optional[str] = 'dota'

    def __init__(self,
                 full_ann_file: Optional[str] = None,
                 iou_thr: float = 0.5,
                 eval_mode: str = '11points',
                 box_convention: str = 'devkit',
                 merge_nms_iou_thr: Optional[float] = 0.3,
                 merge_max_per_img: Optional[int] = None,
                 patch_map: bool = True,
                 backend_args: Optional[dict] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if eval_mode not in ('area', '11points'):
            raise ValueError(f"DOTAHBBMetric eval_mode must be 'area' or "
                             f"'11points', got {eval_mode!r}")
        if box_convention not in BOX_CONVENTIONS:
            raise ValueError(
                f'DOTAHBBMetric box_convention must be one of '
                f"{BOX_CONVENTIONS} ('devkit': DOTA_devkit task-2 rules, "
                f"'continuous': mmdet eval_map), got {box_convention!r}")
        if full_ann_file is None and not patch_map:
            raise ValueError('DOTAHBBMetric: set full_ann_file (full-image '
                             'mAP) and/or patch_map=True')
        self.full_ann_file = full_ann_file
        self.iou_thr = iou_thr
        self.eval_mode = eval_mode
        self.box_convention = box_convention
        self.merge_nms_iou_thr = merge_nms_iou_thr
        self.merge_max_per_img = merge_max_per_img
        self.patch_map = patch_map
        self.backend_args = backend_args

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Keep predictions (and patch GT) of each sample as numpy."""
        for sample in data_samples:
            pred = sample['pred_instances']
            res = dict(
                img_path=sample['img_path'],
                bboxes=pred['bboxes'].cpu().numpy().reshape(-1, 4),
                scores=pred['scores'].cpu().numpy().reshape(-1),
                labels=pred['labels'].cpu().numpy().reshape(-1))
            if self.patch_map:
                gt = sample['gt_instances']
                ig = sample.get('ignored_instances', {})
                res['gt'] = dict(
                    bboxes=gt['bboxes'].cpu().numpy().reshape(-1, 4),
                    labels=gt['labels'].cpu().numpy().reshape(-1),
                    bboxes_ignore=(ig['bboxes'].cpu().numpy().reshape(-1, 4)
                                   if 'bboxes' in ig else np.zeros((0, 4))),
                    labels_ignore=(ig['labels'].cpu().numpy().reshape(-1)
                                   if 'labels' in ig else np.zeros(0)))
            self.results.append(res)

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """Patch mAP and merged full-image mAP."""
        classes = list(self.dataset_meta['classes'])
        num_classes = len(classes)
        metrics = {}
        if self.patch_map:
            dets = [_per_class(r['bboxes'], r['scores'], r['labels'],
                               num_classes) for r in results]
            out = eval_hbb_map(dets, [r['gt'] for r in results],
                               num_classes, self.iou_thr, self.eval_mode,
                               self.box_convention)
            metrics['patch_mAP'] = out['mAP']
            self._log_table('patch', classes, out)
        if self.full_ann_file is not None:
            out = self.evaluate_full_images(results, classes)
            metrics['mAP'] = out['mAP']
            self._log_table('full image', classes, out)
        return metrics

    def evaluate_full_images(self, results: List[dict],
                             classes: Sequence[str]) -> Dict:
        """Merge patch detections per image and evaluate on full images.

        Returns:
            dict: output of :func:`~mmkd_dense.evaluation.eval_hbb_map`
            plus ``merged`` (stem -> merged detections).
        """
        patches = []
        for r in results:
            stem, x, y = parse_patch_name(r['img_path'])
            patches.append((stem, x, y, r['bboxes'], r['scores'],
                            r['labels']))
        if self.box_convention == 'devkit':
            # shift only, then the devkit's "+1 pixel" class-wise NMS
            merged = merge_patch_detections(patches, None, None)
            for stem, dets in merged.items():
                keep = np.arange(len(dets['scores']))
                if self.merge_nms_iou_thr is not None:
                    keep = devkit_batched_nms(dets['bboxes'], dets['scores'],
                                              dets['labels'],
                                              self.merge_nms_iou_thr)
                if self.merge_max_per_img is not None:
                    keep = keep[:self.merge_max_per_img]
                merged[stem] = {k: v[keep] for k, v in dets.items()}
        else:
            merged = merge_patch_detections(patches, self.merge_nms_iou_thr,
                                            self.merge_max_per_img)
        gts = self._load_full_gt(classes)
        missing = sorted(set(merged) - set(gts))
        if missing:
            raise ValueError(
                f'{len(missing)} evaluated images are not in full_ann_file '
                f'{self.full_ann_file} (e.g. {missing[:3]}); point '
                'full_ann_file at the <split>_full.json written together '
                'with the patches.')
        unseen = len(set(gts) - set(merged))
        if unseen:
            print_log(
                f'DOTAHBBMetric: {unseen} of {len(gts)} images of '
                f'{self.full_ann_file} had no evaluated patch; the full-image '
                'mAP covers the other images only.', logger='current',
                level=logging.WARNING)
        stems = sorted(merged)
        num_classes = len(classes)
        dets = [_per_class(merged[s]['bboxes'], merged[s]['scores'],
                           merged[s]['labels'], num_classes) for s in stems]
        out = eval_hbb_map(dets, [gts[s] for s in stems], num_classes,
                           self.iou_thr, self.eval_mode, self.box_convention)
        out['merged'] = merged
        return out

    def _load_full_gt(self, classes: Sequence[str]) -> Dict[str, dict]:
        with get_local_path(self.full_ann_file,
                            backend_args=self.backend_args) as path:
            with open(path) as f:
                data = json.load(f)
        name_to_label = {c.lower(): i for i, c in enumerate(classes)}
        cat_to_label = {}
        for cat in data['categories']:
            label = name_to_label.get(cat['name'].lower())
            if label is None:
                raise ValueError(
                    f"{self.full_ann_file}: category {cat['name']!r} is not "
                    f'in the dataset classes {list(classes)}')
            cat_to_label[cat['id']] = label
        anns = defaultdict(list)
        for ann in data['annotations']:
            anns[ann['image_id']].append(ann)
        gts = {}
        for img in data['images']:
            boxes, labels, ig_boxes, ig_labels = [], [], [], []
            for ann in anns[img['id']]:
                x, y, w, h = ann['bbox']
                target = (ig_boxes, ig_labels) if ann.get('iscrowd', 0) \
                    else (boxes, labels)
                target[0].append([x, y, x + w, y + h])
                target[1].append(cat_to_label[ann['category_id']])
            gts[osp.splitext(img['file_name'])[0]] = dict(
                bboxes=np.asarray(boxes, np.float64).reshape(-1, 4),
                labels=np.asarray(labels, np.int64),
                bboxes_ignore=np.asarray(ig_boxes, np.float64).reshape(-1, 4),
                labels_ignore=np.asarray(ig_labels, np.int64))
        return gts

    def _log_table(self, level: str, classes: Sequence[str],
                   out: Dict) -> None:
        lines = [f'DOTA HBB {level} AP@{self.iou_thr} ({self.eval_mode}, '
                 f'{self.box_convention} boxes):']
        for c, name in enumerate(classes):
            ap = out['ap'][c]
            ap_text = 'n/a' if np.isnan(ap) else f'{ap:.4f}'
            lines.append(f'  {name:<20s} gts {out["num_gts"][c]:>6d}  '
                         f'dets {out["num_dets"][c]:>7d}  AP {ap_text}')
        lines.append(f'  mAP {out["mAP"]:.4f}')
        print_log('\n'.join(lines), logger='current')


def _per_class(bboxes: np.ndarray, scores: np.ndarray, labels: np.ndarray,
               num_classes: int) -> List[np.ndarray]:
    dets = np.concatenate([bboxes.reshape(-1, 4),
                           scores.reshape(-1, 1)], axis=1)
    return [dets[labels == c] for c in range(num_classes)]


def devkit_batched_nms(bboxes: np.ndarray, scores: np.ndarray,
                       labels: np.ndarray, iou_thr: float) -> np.ndarray:
    """Class-wise greedy NMS as the DOTA devkit's HBB merge does it.

    ``ResultMerge.py`` (``mergebyrec`` -> ``py_cpu_nms``) works on one class
    file at a time: boxes in descending score, each kept box drops the
    later ones whose "+1 pixel" IoU with it is above ``iou_thr``.

    Args:
        bboxes (np.ndarray): ``(n, 4)`` xyxy.
        scores (np.ndarray): ``(n,)``.
        labels (np.ndarray): ``(n,)`` class of each box.
        iou_thr (float): suppression threshold (devkit: 0.3).

    Returns:
        np.ndarray: kept indices, by descending score (ties in input
        order).
    """
    bboxes = np.asarray(bboxes, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    labels = np.asarray(labels).reshape(-1)
    keep = []
    for label in np.unique(labels):
        idx = np.nonzero(labels == label)[0]
        idx = idx[np.argsort(-scores[idx], kind='stable')]
        iou = box_iou_xyxy(bboxes[idx], bboxes[idx], offset=1.0)
        alive = np.ones(len(idx), dtype=bool)
        for i in range(len(idx)):
            if alive[i]:
                keep.append(idx[i])
                alive[i + 1:] &= iou[i, i + 1:] <= iou_thr
    keep = np.asarray(keep, dtype=np.int64)
    return keep[np.argsort(-scores[keep], kind='stable')]
