# Copyright (c) mmkd_dense contributors. All rights reserved.
"""CID logit distillation for the RoI head of a two-stage detector.

CID + Light-ML, arXiv 2411.02861: CID picks valuable regions "through the
centerness of proposals". For Faster R-CNN (proposed design, see
``configs/cid_lightml/README.md``) the priors are the student's sampled RoIs.
"""
from typing import Dict, Sequence

import torch
from torch import Tensor, nn

from mmkd_dense.registry import MODELS
from mmkd_dense.structures import DistillBatchContext
from ..utils.cid_weights import cid_point_weights
from ..utils.dense_head_kd import (aligned_giou_loss, find_module,
                                   get_box_tensor)
from ..utils.precision import autocast_disabled, to_float32
from ..utils.renamed_args import renamed_args
from .cid_loss import distribution_kl

__all__ = ['CIDRoILoss']


@MODELS.register_module()
@renamed_args(box_weight='reg_weight')
class CIDRoILoss(nn.Module):
    """CID-weighted KD of a two-stage detector's RoI box head.

    The teacher's RoI head is run (no grad) on the **student's** sampled
    RoIs ``r`` over the teacher's recorded neck features, so both heads
    classify and regress the same regions::

        W(r)  = sum_g c(centre(r), ĝ) / sum_{r' in image} c(centre(r'), ĝ)
        L     = (1/Z) sum_r W(r) [lc * T^2 KL(sm(t_r/T) || sm(s_r/T))
                                + lb * (1 - GIoU(box_s(r), box_t(r))) ]
        Z     = sum_r W(r)  (= number of GT instances: each has mass 1)
        sm    = softmax over the K+1 classes

    ``ĝ``: the GT box enlarged 1.5x about its centre with half-size at least
    ``min_half`` strides of the finest RoI level (the RoI counterpart of
    the dense-head rule). Boxes are decoded from the RoI with the student's
    ``bbox_coder`` for the teacher's most likely foreground class (both
    student and teacher deltas of that class). Both RoI heads are wired once
    when the distiller is built (:meth:`prepare_from_student`,
    :meth:`prepare_from_teacher`).

    Args:
        cls_weight (float): lc. Defaults to 1.0.
        reg_weight (float): lb, weight of the box term. Defaults to 1.0.
        temperature (float): T of the class KL. Defaults to 1.0.
        expand (float): GT enlargement. Defaults to 1.5.
        min_half (float): minimum enlarged half-size in strides of the
            finest RoI level. Defaults to 1.0.
        student_roi_head (str): the student's RoI head. Defaults to
            ``'roi_head'``.
        teacher_roi_head (str): the teacher's RoI head (run without
            gradient on the student's RoIs). Defaults to ``'roi_head'``.
        loss_weight (float): global weight. Defaults to 1.0.

    Mixed precision: the teacher RoI head runs under the caller's
    autocast; the logits and deltas of both are cast to float32 and the KL,
    decoding and GIoU run with autocast disabled, so the loss is float32.
    """

    def __init__(self,
                 cls_weight: float = 1.0,
                 reg_weight: float = 1.0,
                 temperature: float = 1.0,
                 expand: float = 1.5,
                 min_half: float = 1.0,
                 student_roi_head: str = 'roi_head',
                 teacher_roi_head: str = 'roi_head',
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        self.cls_weight = cls_weight
        self.reg_weight = reg_weight
        self.temperature = temperature
        self.expand = expand
        self.min_half = min_half
        self.loss_weight = loss_weight
        self.student_roi_head = student_roi_head
        self.teacher_roi_head = teacher_roi_head
        # handles wired by prepare_from_*; a plain dict, so the detectors'
        # heads are not registered here (no duplicated parameters)
        self._handles: Dict[str, nn.Module] = {}

    # ------------------------------------------------------------------ #
    # wiring (called once by the distiller)
    # ------------------------------------------------------------------ #
    def prepare_from_student(self, student: nn.Module) -> None:
        """Keep a handle on the student's RoI head (box coder, RoI
        strides)."""
        self._handles['student_roi_head'] = self._find(
            student, self.student_roi_head, 'student_roi_head')

    def prepare_from_teacher(self, teacher: nn.Module) -> None:
        """Keep a handle on the teacher's RoI head."""
        self._handles['teacher_roi_head'] = self._find(
            teacher, self.teacher_roi_head, 'teacher_roi_head')

    @staticmethod
    def _find(model: nn.Module, path: str, key: str) -> nn.Module:
        try:
            return find_module(model, path, f'CIDRoILoss.{key}')
        except AttributeError as err:
            raise AttributeError(
                f'{err} CIDRoILoss needs two-stage detectors with a RoI head '
                '(teacher and student); use CIDLoss for dense heads.'
            ) from None

    def _handle(self, name: str) -> nn.Module:
        head = self._handles.get(name)
        if head is None:
            raise RuntimeError(
                f'CIDRoILoss.{name} is not wired: build the loss through '
                'mmkd_dense.GTAwareDistiller (it calls prepare_from_student / '
                'prepare_from_teacher once when the distiller is built), or '
                'call them yourself.')
        return head

    def forward(self, student_cls: Tensor, student_reg: Tensor, rois: Tensor,
                teacher_feats: Sequence[Tensor],
                batch_context: DistillBatchContext) -> Tensor:
        """Compute the loss.

        Args:
            student_cls (Tensor): ``(R, K+1)`` student RoI class logits.
            student_reg (Tensor): ``(R, 4K)`` (or ``(R, 4)``) deltas.
            rois (Tensor): ``(R, 5)`` ``(image, x1, y1, x2, y2)`` sampled RoIs
                (input 1 of the student's ``roi_head.bbox_roi_extractor``).
            teacher_feats (tuple[Tensor]): teacher neck outputs.
            batch_context (DistillBatchContext): GT boxes of the batch.

        Returns:
            Tensor: scalar loss (0 for a batch without GT).
        """
        roi_head_t = self._handle('teacher_roi_head')
        roi_head_s = self._handle('student_roi_head')
        rois = rois.detach()
        with torch.no_grad():
            extractor = roi_head_t.bbox_roi_extractor
            feats = extractor(tuple(teacher_feats)[:extractor.num_inputs],
                              rois)
            if getattr(roi_head_t, 'with_shared_head', False):
                feats = roi_head_t.shared_head(feats)
            teacher_cls, teacher_reg = roi_head_t.bbox_head(feats)
        if teacher_cls.shape != student_cls.shape or \
                teacher_reg.shape != student_reg.shape:
            raise ValueError(
                f'student RoI outputs {tuple(student_cls.shape)}/'
                f'{tuple(student_reg.shape)} vs teacher '
                f'{tuple(teacher_cls.shape)}/{tuple(teacher_reg.shape)}; '
                'use the same num_classes and reg_class_agnostic.')
        with autocast_disabled():
            return self._loss(
                *to_float32((student_cls, student_reg, teacher_cls,
                             teacher_reg, rois)),
                roi_head_s, batch_context)

    def _loss(self, student_cls: Tensor, student_reg: Tensor,
              teacher_cls: Tensor, teacher_reg: Tensor, rois: Tensor,
              roi_head_s: nn.Module,
              batch_context: DistillBatchContext) -> Tensor:
        """The weighted KD sum from (float32) RoI outputs."""
        boxes, box_image = batch_context.flat_gt_bboxes(rois.device)
        min_stride = float(
            min(roi_head_s.bbox_roi_extractor.featmap_strides))
        centres = (rois[:, 1:3] + rois[:, 3:5]) * 0.5
        weight = cid_point_weights(centres, rois[:, 0].long(), boxes,
                                   box_image, self.min_half * min_stride,
                                   self.expand)
        z = weight.sum()  # 0 for a batch without GT: the loss is then 0
        student_cls = student_cls.float()
        cost = self.cls_weight * distribution_kl(
            student_cls, teacher_cls.float(), self.temperature, dim=1)
        if self.reg_weight > 0:
            cost = cost + self.reg_weight * self._box_term(
                student_reg.float(), teacher_reg.float(), teacher_cls, rois,
                roi_head_s.bbox_head)
        return self.loss_weight * (weight * cost).sum() / z.clamp(min=1.0)

    @staticmethod
    def _box_term(reg_s: Tensor, reg_t: Tensor, cls_t: Tensor, rois: Tensor,
                  bbox_head: nn.Module) -> Tensor:
        """``1 - GIoU`` of the decoded boxes, ``(R,)``."""
        num_rois = rois.shape[0]
        if reg_s.shape[1] != 4:  # class-specific: teacher's best fg class
            num_classes = reg_s.shape[1] // 4
            label = cls_t[:, :num_classes].argmax(1)
            index = torch.arange(num_rois, device=rois.device)
            reg_s = reg_s.view(num_rois, num_classes, 4)[index, label]
            reg_t = reg_t.view(num_rois, num_classes, 4)[index, label]
        coder = bbox_head.bbox_coder
        boxes_s = get_box_tensor(coder.decode(rois[:, 1:], reg_s))
        boxes_t = get_box_tensor(coder.decode(rois[:, 1:], reg_t))
        return aligned_giou_loss(boxes_s, boxes_t.detach())

