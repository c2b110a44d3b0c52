# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Spatial alignment of student and teacher feature maps."""
import torch.nn.functional as F
from torch import Tensor

__all__ = ['resize_to']


def resize_to(student: Tensor, teacher: Tensor) -> Tensor:
    """Bilinearly resize ``student`` ``(N, C, h, w)`` to the teacher's
    ``(H, W)`` when they differ (PKD's rule); otherwise return it as is."""
    if student.shape[-2:] == teacher.shape[-2:]:
        return student
    return F.interpolate(student, size=teacher.shape[-2:], mode='bilinear',
                         align_corners=False)
