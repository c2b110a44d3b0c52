# Copyright (c) mmkd_dense contributors. All rights reserved.
"""VOC-style mAP for horizontal boxes, with ignore (difficult) boxes.

Matching rule shared by the VOC / DOTA devkits and mmdet's ``eval_map``
(``tpfp_default``): detections of a class are taken in descending score;
each is matched to the ground truth (including ignored ones) of highest
IoU; a match with an ignored GT -> neither TP nor FP, with an unmatched GT
-> TP, with an already matched GT or below threshold -> FP. No process pool
(mmdet's ``eval_map`` starts one per call).

Two box conventions (``box_convention``):

- ``'devkit'``: the DOTA_devkit task-2 evaluation
  (``dota_evaluation_task2.py``) and the VOC devkit: GT coordinates are
  truncated to integers (the devkit parses them with ``int(float(x))``),
  box areas and intersections count pixels (``x2 - x1 + 1``), a detection
  matches when its IoU is strictly greater than the threshold, and the
  11-point AP uses the devkit's thresholds ``np.arange(0., 1.1, 0.1)``
  literally (0.30000000000000004, ... : a recall of exactly 0.3 does not
  reach that point).
- ``'continuous'``: continuous coordinates as given (area
  ``x2 - x1``), IoU >= threshold, exact thresholds ``0, 0.1, ..., 1``
  (mmdet's ``eval_map``). The default of :func:`eval_hbb_map`.
"""
from typing import Dict, List, Sequence

import numpy as np

__all__ = [
    'box_iou_xyxy', 'average_precision', 'eval_hbb_map', 'BOX_CONVENTIONS',
    'devkit_gt_boxes'
]

#: accepted values of ``box_convention``
BOX_CONVENTIONS = ('devkit', 'continuous')

#: the DOTA / VOC devkit's 11 recall thresholds, as ``np.arange`` makes them
_DEVKIT_11_POINTS = np.arange(0., 1.1, 0.1)


def box_iou_xyxy(a: np.ndarray, b: np.ndarray,
                 offset: float = 0.0) -> np.ndarray:
    """IoU of (n, 4) and (m, 4) ``x1, y1, x2, y2`` boxes -> (n, m).

    Args:
        a (np.ndarray): ``(n, 4)`` boxes.
        b (np.ndarray): ``(m, 4)`` boxes.
        offset (float): added to every width and height, of the boxes and
            of their intersection: 0 (continuous) or 1 (VOC / DOTA devkit
            "+1 pixel": ``w = x2 - x1 + 1``, intersection width
            ``max(0, min(x2) - max(x1) + 1)``). Defaults to 0.

    Returns:
        np.ndarray: ``(n, m)`` IoU.
    """
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = (rb - lt + offset).clip(min=0)
    inter = wh[..., 0] * wh[..., 1]
    area_a = (a[:, 2] - a[:, 0] + offset) * (a[:, 3] - a[:, 1] + offset)
    area_b = (b[:, 2] - b[:, 0] + offset) * (b[:, 3] - b[:, 1] + offset)
    union = area_a[:, None] + area_b[None, :] - inter
    return inter / np.maximum(union, np.finfo(np.float64).eps)


def average_precision(recall: np.ndarray,
                      precision: np.ndarray,
                      mode: str = 'area',
                      devkit_thresholds: bool = False) -> float:
    """AP from a PR curve.

    ``'11points'``: AP = 1/11 * sum_{t in 0, 0.1, .., 1} max_{r >= t} p(r)
    (VOC2007). ``'area'``: area under the monotone precision envelope
    (VOC2010+).

    Args:
        recall (np.ndarray): (k,) non-decreasing recalls.
        precision (np.ndarray): (k,) precisions.
        mode (str): ``'area'`` or ``'11points'``.
        devkit_thresholds (bool): for ``'11points'``, compare with the
            devkit's ``np.arange(0., 1.1, 0.1)`` values as they are (e.g.
            0.30000000000000004, which a recall of 3/10 does not reach);
            False uses the exact tenths (with a 1e-12 tolerance).
            Defaults to False.

    Returns:
        float: AP in [0, 1].
    """
    if mode == '11points':
        ap = 0.0
        for t in (_DEVKIT_11_POINTS if devkit_thresholds else
                  np.linspace(0, 1, 11)):
            mask = recall >= (t if devkit_thresholds else t - 1e-12)
            ap += precision[mask].max() if mask.any() else 0.0
        return float(ap / 11)
    if mode != 'area':
        raise ValueError(f"eval_mode must be 'area' or '11points', got "
                         f'{mode!r}')
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[0.0], precision, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    idx = np.nonzero(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[idx + 1] - mrec[idx]) * mpre[idx + 1]))


def devkit_gt_boxes(boxes: np.ndarray) -> np.ndarray:
    """GT boxes as the DOTA devkit parses them: every coordinate truncated
    towards zero (``int(float(x))``).

    Coordinates are first rounded to 6 decimals, so that a stored
    ``x + w`` that float arithmetic left one ulp below an integer (e.g.
    ``15.999999999999998`` for a label written as ``16``) truncates to that
    integer, as the devkit reading the label file would.

    Args:
        boxes (np.ndarray): ``(g, 4)`` xyxy.

    Returns:
        np.ndarray: ``(g, 4)`` float64 with integer values.
    """
    return np.trunc(np.round(np.asarray(boxes, dtype=np.float64), 6))


def eval_hbb_map(det_results: Sequence[Sequence[np.ndarray]],
                 annotations: Sequence[Dict],
                 num_classes: int,
                 iou_thr: float = 0.5,
                 eval_mode: str = 'area',
                 box_convention: str = 'continuous') -> Dict:
    """Mean AP over classes that have ground truth.

    Args:
        det_results: per image, per class, (k, 5) ``x1, y1, x2, y2,
            score``.
        annotations: per image, dict with ``bboxes`` (g, 4), ``labels``
            (g,), ``bboxes_ignore`` (i, 4), ``labels_ignore`` (i,).
        num_classes (int): C.
        iou_thr (float): match threshold.
        eval_mode (str): ``'area'`` or ``'11points'``.
        box_convention (str): ``'continuous'`` (default; mmdet's
            ``eval_map``) or ``'devkit'`` (DOTA_devkit task 2 / VOC devkit:
            GT truncated to integers, "+1 pixel" areas, IoU strictly above
            ``iou_thr``, the devkit's 11-point thresholds); see the module
            docstring.

    Returns:
        dict: ``mAP`` (mean over classes with GT; 0 if none), ``ap`` (C,)
        with NaN for classes without GT, ``num_gts`` (C,), ``num_dets``
        (C,), ``recall`` (C,) final recall.
    """
    if box_convention not in BOX_CONVENTIONS:
        raise ValueError(f'box_convention must be one of {BOX_CONVENTIONS}, '
                         f'got {box_convention!r}')
    if len(det_results) != len(annotations):
        raise ValueError(f'{len(det_results)} detection results but '
                         f'{len(annotations)} annotations')
    devkit = box_convention == 'devkit'
    aps = np.full(num_classes, np.nan)
    num_gts = np.zeros(num_classes, dtype=np.int64)
    num_dets = np.zeros(num_classes, dtype=np.int64)
    final_recall = np.zeros(num_classes)
    for c in range(num_classes):
        scores: List[np.ndarray] = []
        tps: List[np.ndarray] = []
        fps: List[np.ndarray] = []
        for dets, ann in zip(det_results, annotations):
            d = np.asarray(dets[c], dtype=np.float64).reshape(-1, 5)
            gt = np.asarray(ann['bboxes'], dtype=np.float64).reshape(-1, 4)
            gt = gt[np.asarray(ann['labels']).reshape(-1) == c]
            ig = np.asarray(ann.get('bboxes_ignore', np.zeros((0, 4))),
                            dtype=np.float64).reshape(-1, 4)
            ig = ig[np.asarray(ann.get('labels_ignore', np.zeros(0)))
                    .reshape(-1) == c]
            num_gts[c] += len(gt)
            if len(d) == 0:
                continue
            if devkit:
                gt, ig = devkit_gt_boxes(gt), devkit_gt_boxes(ig)
            d = d[np.argsort(-d[:, 4], kind='stable')]
            tp, fp = _match(d[:, :4], gt, ig, iou_thr, devkit)
            scores.append(d[:, 4])
            tps.append(tp)
            fps.append(fp)
        if not scores:
            if num_gts[c] > 0:
                aps[c] = 0.0
            continue
        s = np.concatenate(scores)
        order = np.argsort(-s, kind='stable')
        tp = np.cumsum(np.concatenate(tps)[order])
        fp = np.cumsum(np.concatenate(fps)[order])
        num_dets[c] = int(tp[-1] + fp[-1])
        if num_gts[c] == 0:
            continue
        recall = tp / num_gts[c]
        precision = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
        aps[c] = average_precision(recall, precision, eval_mode,
                                   devkit_thresholds=devkit)
        final_recall[c] = recall[-1]
    valid = num_gts > 0
    mean_ap = float(np.mean(aps[valid])) if valid.any() else 0.0
    return dict(mAP=mean_ap, ap=aps, num_gts=num_gts, num_dets=num_dets,
                recall=final_recall)


def _match(dets: np.ndarray, gt: np.ndarray, ignore: np.ndarray,
           iou_thr: float, devkit: bool = False):
    """TP / FP flags (k,) of score-sorted detections of one image/class.

    ``devkit``: "+1 pixel" IoU and a strict ``IoU > iou_thr``; otherwise
    continuous IoU and ``IoU >= iou_thr``.
    """
    k = len(dets)
    tp = np.zeros(k)
    fp = np.zeros(k)
    all_gt = np.concatenate([gt, ignore], axis=0)
    if len(all_gt) == 0:
        fp[:] = 1
        return tp, fp
    is_ignore = np.arange(len(all_gt)) >= len(gt)
    ious = box_iou_xyxy(dets, all_gt, offset=1.0 if devkit else 0.0)
    best = ious.argmax(axis=1)
    best_iou = ious[np.arange(k), best]
    matched = best_iou > iou_thr if devkit else best_iou >= iou_thr
    covered = np.zeros(len(all_gt), dtype=bool)
    for i in range(k):
        if matched[i]:
            j = best[i]
            if is_ignore[j]:
                continue
            if not covered[j]:
                covered[j] = True
                tp[i] = 1
            else:
                fp[i] = 1
        else:
            fp[i] = 1
    return tp, fp
