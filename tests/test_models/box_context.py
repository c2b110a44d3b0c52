# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Minimal GT batches for loss / mask tests: boxes only, all labels 0."""
from typing import Sequence, Tuple

import torch

from mmkd_dense.structures import DistillBatchContext

__all__ = ['BoxSample', 'box_context']


class BoxSample:
    """Minimal data sample: ``gt_instances.bboxes/labels`` only.

    Args:
        boxes (Sequence): ``(B, 4)`` xyxy boxes (may be empty).
    """

    def __init__(self, boxes: Sequence) -> None:
        from mmengine.structures import InstanceData
        boxes = torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)
        self.gt_instances = InstanceData(
            bboxes=boxes, labels=torch.zeros(len(boxes), dtype=torch.long))


def box_context(boxes_per_image: Sequence[Sequence],
                input_shape: Tuple[int, int] = (16, 16)
                ) -> DistillBatchContext:
    """A :class:`DistillBatchContext` of one :class:`BoxSample` per image."""
    return DistillBatchContext([BoxSample(b) for b in boxes_per_image],
                               input_shape)
