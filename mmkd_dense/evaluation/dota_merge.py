# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Merge DOTA patch detections back to full images."""
import os.path as osp
import re
from collections import defaultdict
from typing import Dict, Iterable, Optional, Tuple

import numpy as np

__all__ = ['parse_patch_name', 'merge_patch_detections', 'PATCH_NAME_RE']

#: ``<image>__<size or rate>__<x>___<y>`` (mmrotate / BboxToolkit names).
PATCH_NAME_RE = re.compile(
    r'^(?P<ori>.+)__(?P<size>\d+(?:\.\d+)?)__(?P<x>-?\d+)___(?P<y>-?\d+)$')


def parse_patch_name(path: str,
                     strict: bool = False) -> Tuple[str, int, int]:
    """Original image stem and patch offset from a patch file name.

    Args:
        path (str): patch file path or name, e.g.
            ``.../P0001__1024__824___0.png``.
        strict (bool): raise when the name is not a patch name; otherwise
            it is taken as a full image at offset (0, 0).

    Returns:
        tuple: ``(stem, x, y)``.
    """
    stem = osp.splitext(osp.basename(path))[0]
    m = PATCH_NAME_RE.match(stem)
    if m is None:
        if strict:
            raise ValueError(
                f'{path!r} is not a DOTA patch name '
                '"<image>__<size>__<x>___<y>.<ext>" (as written by '
                'tools/dataset_converters/dota_split.py)')
        return stem, 0, 0
    return m.group('ori'), int(m.group('x')), int(m.group('y'))


def merge_patch_detections(
        patches: Iterable[Tuple[str, int, int, np.ndarray, np.ndarray,
                                np.ndarray]],
        nms_iou_thr: Optional[float] = 0.3,
        max_per_img: Optional[int] = None) -> Dict[str, Dict[str, np.ndarray]]:
    """Shift patch detections by their offsets and run class-wise NMS.

    Args:
        patches: ``(stem, x, y, bboxes (n, 4) xyxy in patch pixels,
            scores (n,), labels (n,))`` per patch.
        nms_iou_thr (float, optional): IoU threshold of the class-wise NMS
            over all patches of an image (DOTA devkit HBB merge: 0.3);
            ``None`` keeps every box.
        max_per_img (int, optional): keep the top-scoring boxes after NMS.

    Returns:
        dict: stem -> dict(``bboxes`` (m, 4) in full-image pixels,
        ``scores`` (m,), ``labels`` (m,)), sorted by descending score.
    """
    grouped = defaultdict(list)
    for stem, x, y, bboxes, scores, labels in patches:
        bboxes = np.asarray(bboxes, dtype=np.float32).reshape(-1, 4)
        grouped[stem].append((bboxes + np.array([x, y, x, y], np.float32),
                              np.asarray(scores, np.float32).reshape(-1),
                              np.asarray(labels, np.int64).reshape(-1)))
    merged = {}
    for stem, parts in grouped.items():
        bboxes = np.concatenate([p[0] for p in parts])
        scores = np.concatenate([p[1] for p in parts])
        labels = np.concatenate([p[2] for p in parts])
        if nms_iou_thr is not None and len(bboxes) > 0:
            keep = _batched_nms(bboxes, scores, labels, nms_iou_thr)
        else:
            keep = np.argsort(-scores, kind='stable')
        if max_per_img is not None:
            keep = keep[:max_per_img]
        merged[stem] = dict(bboxes=bboxes[keep], scores=scores[keep],
                            labels=labels[keep])
    return merged


def _batched_nms(bboxes: np.ndarray, scores: np.ndarray, labels: np.ndarray,
                 iou_thr: float) -> np.ndarray:
    """Class-aware NMS (mmcv op); returns kept indices by score."""
    import torch
    from mmcv.ops import batched_nms
    _, keep = batched_nms(
        torch.from_numpy(bboxes), torch.from_numpy(scores),
        torch.from_numpy(labels), dict(type='nms', iou_threshold=iou_thr))
    return keep.numpy()
