# Copyright (c) mmkd_dense contributors. All rights reserved.
"""UAVDT-DET evaluation: COCO AP and the benchmark's AP at IoU 0.7."""
from typing import Optional, Sequence

import numpy as np

from ..registry import METRICS
from .visdrone_metric import VisDroneMetric

__all__ = ['UAVDTMetric']


@METRICS.register_module()
class UAVDTMetric(VisDroneMetric):
    """The UAVDT-DET table: AP, AP50, AP70, AP75, AR1, AR10, AR100, AR500.

    ``AP70`` is the UAVDT protocol (Du et al., ECCV 2018: a detection is a
    true positive at IoU >= 0.7); ``AP`` is COCO AP@[.5:.95], reported by
    the papers that use UAVDT with the COCO toolkit (CEASC, CID + Light-ML).
    Every AP is pycocotools' 101-point interpolated precision averaged over
    the 3 classes (car, truck, bus), with at most ``max_dets[-1]``
    detections per image; the official Matlab toolkit's PR-curve AP may
    interpolate differently, so AP70 is close to, not identical with, its
    number.

    Ignore regions: ``uavdt2coco.py`` writes each ``*_gt_ignore.txt`` box as
    ``iscrowd=1`` copies for every class; a detection whose area lies inside
    one (intersection / detection area >= the IoU threshold) is neither TP
    nor FP, as in the benchmark where detections in ignore regions are
    discarded.

    Args:
        ann_file (str): COCO json written by ``uavdt2coco.py``.
        max_dets (Sequence[int]): detection caps for AR; the last one is
            also the AP cap and the number of detections kept per image.
        iou_thrs (Sequence[float], optional): default 0.50:0.05:0.95; must
            contain 0.7.
        backend_args (dict, optional): for reading ``ann_file``.
        collect_device (str): ``'cpu'`` or ``'gpu'``.
        prefix (str, optional): default ``'uavdt'``.
    """

    default_prefix: Optional[str] = 'uavdt'
    ap_ious = (('AP50', 0.5), ('AP70', 0.7), ('AP75', 0.75))
    benchmark = 'UAVDT-DET'
    converter = 'uavdt2coco.py'

    def __init__(self,
                 ann_file: str,
                 max_dets: Sequence[int] = (1, 10, 100, 500),
                 iou_thrs: Optional[Sequence[float]] = None,
                 backend_args: Optional[dict] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        if iou_thrs is not None and not np.isclose(
                np.asarray(iou_thrs, dtype=np.float64), 0.7).any():
            raise ValueError(
                f'UAVDTMetric iou_thrs must contain 0.7 (the UAVDT '
                f'protocol, reported as AP70), got {list(iou_thrs)}')
        super().__init__(ann_file=ann_file, max_dets=max_dets,
                         iou_thrs=iou_thrs, backend_args=backend_args,
                         collect_device=collect_device, prefix=prefix)
