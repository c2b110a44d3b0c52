# Copyright (c) mmkd_dense contributors. All rights reserved.
from .gt_aware_distill import (TEACHER_FORWARD_MODES, GTAwareDistill,
                               check_teacher_ckpt, resolve_detector_cfg)

__all__ = [
    'GTAwareDistill', 'TEACHER_FORWARD_MODES', 'check_teacher_ckpt',
    'resolve_detector_cfg'
]
