# Copyright (c) mmkd_dense contributors. All rights reserved.
"""LD: localization distillation of GFL edge distributions.

Zheng et al., "Localization Distillation for Dense Object Detection",
CVPR 2022 (arXiv 2102.12252); computed as mmdet 3.3's ``LDHead`` computes
its ``loss_ld`` (``mmdet/models/dense_heads/ld_head.py``).
"""
from typing import Dict, Optional, Sequence

import torch
from torch import Tensor, nn

from mmkd_dense.registry import MODELS
from ..utils.dense_head_kd import (DenseTargets, cached_dense_head_targets,
                                   find_module, flatten_level_outputs,
                                   head_kind)
from ..utils.precision import autocast_disabled, to_float32

__all__ = ['LDLoss']


@MODELS.register_module()
class LDLoss(nn.Module):
    """Localization distillation (LD) for a GFL student, as mmdet's LDHead.

    For the *student* head's positive priors ``p`` (its own ATSS assignment)
    and each of the 4 box edges ``e``, with ``s`` / ``t`` the student's /
    teacher's ``reg_max + 1``-bin edge logits::

        w_p  = max_k sigmoid(cls_s)_pk          (detached)
        L_LD = loss_weight * sum_{p,e} w_p * T^2 * mean_b KL_b(
                   softmax(t_pe / T) || softmax(s_pe / T)) / (4 + eps)

    summed over the FPN levels with no further normalisation (LDHead returns
    one ``loss_ld`` per level, each divided by ``avg_factor=4``), T = 10,
    loss_weight = 0.25. The student's own GFL losses stay in the student
    (its ``bbox_head`` is a plain ``GFLHead``), so student + ``LDLoss``
    equals a student with mmdet's ``LDHead``.

    Inputs (``loss_forward_mappings``): the student's and the teacher's
    ``bbox_head`` outputs, recorded with ``ModuleOutputs`` recorders on
    ``bbox_head`` (the teacher runs with ``teacher_forward='tensor'``).
    The student head (assigner, prior generator) is wired once at build
    time by :meth:`prepare_from_student`.

    Args:
        loss_ld (dict): the KL loss applied to the ``(P * 4, reg_max + 1)``
            edge logits; default ``mmkd_dense.KDKLDivLoss`` with
            ``temperature=10``,
            ``class_reduction='mean'``, loss_weight 0.25 (mmdet's LD
            config).
        student_head (str): the student's dense head (a ``GFLHead``).
            Defaults to ``'bbox_head'``.
    """

    def __init__(self,
                 loss_ld: Optional[Dict] = None,
                 student_head: str = 'bbox_head') -> None:
        super().__init__()
        if loss_ld is None:
            loss_ld = dict(type='mmkd_dense.KDKLDivLoss', temperature=10,
                           class_reduction='mean', loss_weight=0.25)
        self.loss_ld = MODELS.build(loss_ld)
        self.student_head = student_head
        # handles wired by prepare_from_student; a plain dict, so the
        # student's head is not registered (no duplicated parameters)
        self._handles: Dict[str, nn.Module] = {}

    def prepare_from_student(self, student: nn.Module) -> None:
        """Keep a handle on the student's GFL head (called once by the
        distiller)."""
        head = find_module(student, self.student_head, 'LDLoss.student_head')
        try:
            kind = head_kind(head)
        except TypeError as err:
            kind = str(err)
        if kind != 'gfl':
            raise TypeError(
                f'LDLoss.student_head="{self.student_head}" is a '
                f'{type(head).__name__}; LD distils GFL edge distributions '
                'and needs a GFLHead student (e.g. configs/detectors/gfl).')
        self._handles['student_head'] = head

    def forward(self, student_outs: Sequence[Sequence[Tensor]],
                teacher_outs: Sequence[Sequence[Tensor]],
                batch_context) -> Tensor:
        """Compute ``L_LD``.

        Args:
            student_outs (tuple): the student head's output ``(cls_scores,
                bbox_preds)``, lists over levels of ``(N, K, H, W)`` and
                ``(N, 4 * (reg_max + 1), H, W)``.
            teacher_outs (tuple): the teacher head's output, same shapes.
            batch_context (DistillBatchContext): the batch's GT and metas.

        Returns:
            Tensor: scalar loss (0 when the batch has no positive prior).
        """
        head = self._handles.get('student_head')
        if head is None:
            raise RuntimeError(
                'LDLoss.prepare_from_student was not called: build the loss '
                'through mmkd_dense.GTAwareDistiller (it wires the student '
                'head once when the distiller is built).')
        cls_s, reg_s = list(student_outs[0]), list(student_outs[1])
        reg_t = list(teacher_outs[1])
        if len(reg_s) != len(reg_t) or any(
                s.shape != t.shape for s, t in zip(reg_s, reg_t)):
            raise ValueError(
                'LDLoss: student box distributions '
                f'{[tuple(s.shape) for s in reg_s]} and teacher '
                f'{[tuple(t.shape) for t in reg_t]} differ; teacher and '
                'student GFL heads need the same levels and reg_max.')
        sizes = [tuple(c.shape[-2:]) for c in cls_s]
        targets = cached_dense_head_targets(
            batch_context, head, sizes, cls_s[0].device)
        with autocast_disabled():
            return self._loss(to_float32(cls_s), to_float32(reg_s),
                              to_float32(reg_t), head, targets)

    def _loss(self, cls_s: Sequence[Tensor], reg_s: Sequence[Tensor],
              reg_t: Sequence[Tensor], head: nn.Module,
              targets: DenseTargets) -> Tensor:
        bins = head.reg_max + 1
        reg_s = flatten_level_outputs(reg_s, 4 * bins)
        pos = targets.pos_inds
        if pos.numel() == 0:
            return reg_s.sum() * 0
        with torch.no_grad():
            scores = flatten_level_outputs(cls_s, head.cls_out_channels)
            weight = scores[pos].sigmoid().max(dim=1)[0]
            soft = flatten_level_outputs(reg_t, 4 * bins)[pos]
        pred = reg_s[pos].reshape(-1, bins)
        return self.loss_ld(
            pred, soft.reshape(-1, bins),
            weight=weight[:, None].expand(-1, 4).reshape(-1),
            avg_factor=4.0)

