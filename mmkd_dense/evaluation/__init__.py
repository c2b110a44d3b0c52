# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Metrics: DOTA horizontal boxes (patch + merged full image), VisDrone,
UAVDT."""
from .dota_hbb_metric import DOTAHBBMetric
from .dota_merge import (PATCH_NAME_RE, merge_patch_detections,
                         parse_patch_name)
from .hbb_map import average_precision, box_iou_xyxy, eval_hbb_map
from .uavdt_metric import UAVDTMetric
from .visdrone_metric import VisDroneMetric

__all__ = [
    'DOTAHBBMetric', 'VisDroneMetric', 'UAVDTMetric',
    'merge_patch_detections', 'parse_patch_name', 'PATCH_NAME_RE',
    'eval_hbb_map', 'average_precision', 'box_iou_xyxy'
]
