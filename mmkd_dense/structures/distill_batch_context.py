# Copyright (c) mmkd_dense contributors. All rights reserved.
"""What a GT-aware distillation loss may read about the current batch."""
from typing import (Any, Callable, Dict, Hashable, List, Optional, Sequence,
                    Tuple)

import torch
from torch import Tensor

__all__ = ['DistillBatchContext']


class DistillBatchContext:
    """Ground truth and metas of one training batch, for KD losses.

    MMRazor losses only receive recorded tensors. ``GTAwareDistill`` builds
    one context per ``loss()`` call and passes it as an argument to
    ``GTAwareDistiller.compute_distill_losses``, which hands it to every
    loss whose ``forward`` has a ``batch_context`` parameter.

    The context is *data only*: GT boxes and labels, ignore regions, the data
    samples (metas) and the input shape, plus a per-batch cache
    (:meth:`cached`). A loss that needs a network part (the student head's
    assigner, a teacher head) names it in its config and gets a handle once
    at build time (``prepare_from_student`` / ``prepare_from_teacher``),
    never through the context.

    All boxes are ``(x1, y1, x2, y2)`` in pixels of the padded batch input
    (the frame the FPN maps are computed from), i.e. the same coordinates
    as ``data_sample.gt_instances.bboxes`` after the data preprocessor.

    Args:
        data_samples (Sequence[DetDataSample]): the batch's data samples.
        batch_input_shape (tuple[int, int]): ``(H_in, W_in)`` of the padded
            batch tensor.

    Attributes:
        gt_bboxes (list[Tensor]): per image ``(n_i, 4)`` GT boxes.
        gt_labels (list[Tensor]): per image ``(n_i,)`` labels.
        ignored_bboxes (list[Tensor]): per image ``(k_i, 4)`` ignore regions
            (``data_sample.ignored_instances``; empty when absent).
    """

    def __init__(self,
                 data_samples: Sequence[Any],
                 batch_input_shape: Tuple[int, int]) -> None:
        self.data_samples = list(data_samples)
        self.batch_input_shape = (int(batch_input_shape[0]),
                                  int(batch_input_shape[1]))
        from mmdet.structures.bbox import get_box_tensor
        self.gt_bboxes: List[Tensor] = []
        self.gt_labels: List[Tensor] = []
        self.ignored_bboxes: List[Tensor] = []
        for sample in self.data_samples:
            gt = sample.gt_instances
            self.gt_bboxes.append(get_box_tensor(gt.bboxes))
            self.gt_labels.append(gt.labels)
            ignored = getattr(sample, 'ignored_instances', None)
            if ignored is not None and 'bboxes' in ignored:
                self.ignored_bboxes.append(get_box_tensor(ignored.bboxes))
            else:
                self.ignored_bboxes.append(
                    self.gt_bboxes[-1].new_zeros((0, 4)))
        self._cache: Dict[Hashable, Any] = {}

    @classmethod
    def from_data_samples(cls, data_samples: Sequence[Any],
                          batch_inputs: Tensor) -> 'DistillBatchContext':
        """Build from the preprocessed batch of ``BaseDetector.loss``.

        Args:
            data_samples (Sequence[DetDataSample]): the batch's samples.
            batch_inputs (Tensor): ``(N, 3, H_in, W_in)``; only its shape is
                read (when the metas carry no ``batch_input_shape``).
        """
        shape = tuple(batch_inputs.shape[-2:])
        if data_samples and 'batch_input_shape' in data_samples[0].metainfo:
            shape = data_samples[0].metainfo['batch_input_shape']
        return cls(data_samples, shape)

    @property
    def num_images(self) -> int:
        """Number of images N in the batch."""
        return len(self.data_samples)

    def flat_gt_bboxes(self, device: Optional[torch.device] = None
                       ) -> Tuple[Tensor, Tensor]:
        """All GT boxes of the batch in one tensor, for vectorised masks.

        Returns:
            tuple[Tensor, Tensor]: boxes ``(M, 4)`` float32 and the image
            index of each box ``(M,)`` int64, on ``device``.
        """
        key = ('flat_gt_bboxes', str(device))
        if key not in self._cache:
            device = device or (self.gt_bboxes[0].device
                                if self.gt_bboxes else torch.device('cpu'))
            boxes = [b.to(device=device, dtype=torch.float32)
                     for b in self.gt_bboxes]
            index = [torch.full((len(b),), i, dtype=torch.long,
                                device=device) for i, b in enumerate(boxes)]
            if boxes:
                self._cache[key] = (torch.cat(boxes), torch.cat(index))
            else:
                self._cache[key] = (torch.zeros((0, 4), device=device),
                                    torch.zeros((0,), dtype=torch.long,
                                                device=device))
        return self._cache[key]

    def cached(self, key: Hashable, build: Callable[[], Any]) -> Any:
        """Compute ``build()`` once per batch and key (e.g. one mask per
        level shared by several losses)."""
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

