# Copyright (c) mmkd_dense contributors. All rights reserved.
from .gt_aware_distill import (TEACHER_FORWARD_MODES, GTAwareDistill,
                               check_teacher_ckpt, detector_num_classes,
                               resolve_detector_cfg, teacher_ckpt_hint,
                               teacher_weights_check_only)

__all__ = [
    'GTAwareDistill', 'TEACHER_FORWARD_MODES', 'check_teacher_ckpt',
    'resolve_detector_cfg', 'detector_num_classes', 'teacher_ckpt_hint',
    'teacher_weights_check_only'
]
