# Copyright (c) mmkd_dense contributors. All rights reserved.
"""CrossKD: cross-head knowledge distillation for dense detectors.

Wang, Chen, Zheng, Li, Cheng, Hou, "CrossKD: Cross-Head Knowledge
Distillation for Object Detection", CVPR 2024 (arXiv 2306.11369);
reference code github jbwang1997/CrossKD
(``mmdet/models/detectors/crosskd_{retinanet,gfl,fcos}.py``).
"""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmkd_dense.registry import MODELS
from ..utils.dense_head_kd import (DenseTargets, cached_dense_head_targets,
                                   decode_boxes, find_module,
                                   flatten_level_outputs, head_kind)
from ..utils.precision import autocast_disabled, to_float32

__all__ = [
    'CrossKDLoss', 'align_scale', 'cross_head_forward', 'DEFAULT_KD_LOSSES'
]

#: Smallest FCOS normaliser (the reference's ``max(..., 1e-6)``).
_FCOS_MIN_DENORM = 1e-6

#: The CrossKD configs' KD losses per head kind (``configs/crosskd/
#: crosskd_r50_{retinanet_r101_fpn_2x,gflv1_r101-2x-ms_fpn_1x,
#: fcos_r101-2x-ms_caffe_fpn_gn-head_2x_ms}_coco.py``).
DEFAULT_KD_LOSSES = dict(
    anchor=(dict(type='mmkd_dense.KDQualityFocalLoss', beta=1.0,
                 loss_weight=1.0),
            dict(type='mmdet.GIoULoss', loss_weight=1.0)),
    gfl=(dict(type='mmkd_dense.KDQualityFocalLoss', beta=1.0,
              loss_weight=1.0),
         dict(type='mmkd_dense.KDKLDivLoss', temperature=1,
              class_reduction='sum', loss_weight=4.0)),
    point=(dict(type='mmkd_dense.KDQualityFocalLoss', beta=1.0,
                loss_weight=0.4),
           dict(type='mmdet.IoULoss', loss_weight=0.75)))


def align_scale(student: Tensor, teacher: Tensor) -> Tensor:
    """Give each student channel the teacher channel's mean and std.

    ``(s - mean_c(s)) / (std_c(s) + 1e-6) * std_c(t) + mean_c(t)`` with
    statistics over ``(N, H, W)`` (unbiased std), as CrossKD's
    ``align_scale``. Computed in float32.

    Args:
        student (Tensor): ``(N, C, H, W)`` student head feature.
        teacher (Tensor): ``(N, C, H, W)`` teacher head feature (no
            gradient is taken through it).

    Returns:
        Tensor: ``(N, C, H, W)`` float32.
    """
    dims = (0, 2, 3)
    student = student.float()
    teacher = teacher.detach().float()
    s_mean = student.mean(dim=dims, keepdim=True)
    s_std = student.std(dim=dims, keepdim=True)
    t_mean = teacher.mean(dim=dims, keepdim=True)
    t_std = teacher.std(dim=dims, keepdim=True)
    return (student - s_mean) / (s_std + 1e-6) * t_std + t_mean


def cross_head_forward(head: nn.Module, cls_feat: Tensor, reg_feat: Tensor,
                       level: int, start: int) -> Tuple[Tensor, Tensor]:
    """Run tower convs ``start..`` and the predictors of a dense head.

    The head's own ``forward_single`` from layer ``start`` on: RetinaHead
    (``retina_cls`` / ``retina_reg``), GFLHead (``gfl_cls``, ``Scale`` of
    ``gfl_reg``, float) and FCOSHead (``conv_cls``, ``Scale`` of
    ``conv_reg``, clamped at 0 and, in eval mode, times the stride with
    ``norm_on_bbox``; ``exp`` without).

    Args:
        head (nn.Module): the (teacher) head.
        cls_feat (Tensor): ``(N, C, H, W)`` input of ``cls_convs[start]``.
        reg_feat (Tensor): ``(N, C, H, W)`` input of ``reg_convs[start]``.
        level (int): FPN level (selects the ``Scale`` and stride).
        start (int): first tower conv to run.

    Returns:
        tuple[Tensor, Tensor]: class logits ``(N, A*K, H, W)`` and box
        regression ``(N, A*D, H, W)``, as the head's forward returns them.
    """
    from mmdet.models.dense_heads import FCOSHead, GFLHead, RetinaHead
    for conv in head.cls_convs[start:]:
        cls_feat = conv(cls_feat)
    for conv in head.reg_convs[start:]:
        reg_feat = conv(reg_feat)
    if isinstance(head, GFLHead):
        return (head.gfl_cls(cls_feat),
                head.scales[level](head.gfl_reg(reg_feat)).float())
    if isinstance(head, FCOSHead):
        reg = head.scales[level](head.conv_reg(reg_feat)).float()
        if head.norm_on_bbox:
            reg = reg.clamp(min=0)
            if not head.training:
                reg = reg * head.strides[level]
        else:
            reg = reg.exp()
        return head.conv_cls(cls_feat), reg
    if isinstance(head, RetinaHead):
        return head.retina_cls(cls_feat), head.retina_reg(reg_feat)
    raise TypeError(
        f'CrossKDLoss supports RetinaHead, GFLHead and FCOSHead teachers, '
        f'got {type(head).__name__}.')


@MODELS.register_module()
class CrossKDLoss(nn.Module):
    """CrossKD: student head features through the frozen teacher head.

    The student's cls / reg tower features after its first ``k =
    reused_teacher_head_idx`` convs (recorded from the student's
    ``bbox_head.cls_convs.{k-1}`` / ``reg_convs.{k-1}``, one record per
    FPN level: ``record_idx='all'``) are given the channel statistics of the
    teacher's features at the same layer (:func:`align_scale`), passed
    through ReLU (if ``k > 0``) and the teacher head's remaining tower convs
    and predictors (:func:`cross_head_forward`). These cross-head
    predictions ``x`` mimic the teacher's own predictions ``t`` (its
    ``bbox_head`` outputs, ``teacher_forward='tensor'``). Gradients reach
    the student's first ``k`` tower convs, FPN and backbone; the teacher
    head is frozen.

    With the *student* head's own target assignment (label weights ``lw``,
    ``avg_factor`` A = sum over images of ``max(#positives, 1)``) and
    ``w_p = sigmoid(max_k t_pk)``, as the reference code computes it per
    head:

    - RetinaNet (anchor heads)::

        L = KDQFL(x_cls, t_cls; lw) / A
          + sum_p w_p [lw_p > 0] (1 - GIoU(box(x_p), box(t_p))) / A

      boxes decoded from the anchors by the student's ``bbox_coder``.
    - GFL::

        L = KDQFL(x_cls, t_cls; lw) / A
          + 4 * sum_{p,e} w_p [lw_p > 0] KL_sum(t_pe || x_pe; T=1)
            / (4 * sum_p w_p [lw_p > 0])

      on the 4 edge distributions of ``reg_max + 1`` bins.
    - FCOS (all points count; D = sum of the FCOS centerness targets of the
      student's positive points, at least 1e-6)::

        L = 0.4 * KDQFL(x_cls, t_cls) / D + 0.75 * sum_p w_p (-log IoU) / D

      (the CrossKD FCOS config: KDQFL weight 0.4, ``IoULoss`` weight 0.75,
      ``reused_teacher_head_idx=2``).

    KDQFL is ``sum_k BCE(x, sigmoid(t)) |sigmoid(x) - sigmoid(t)|^beta``.
    The loss terms and their weights come from ``loss_cls_kd`` and
    ``loss_reg_kd`` (registered losses, as in the CrossKD configs; the
    defaults, :data:`DEFAULT_KD_LOSSES`, are those configs' per head kind).
    Deviation: when a batch has no positive point, D (FCOS) is 1; the
    reference divides by 1e-6 there (a 1e6-fold loss spike).

    Args:
        reused_teacher_head_idx (int): k, the number of student tower convs
            before the teacher's layers take over (0 = the teacher's whole
            tower on the student's FPN features). Defaults to 3 (CrossKD).
        loss_cls_kd (dict, optional): classification KD; None picks the
            reference's for the head: ``mmkd_dense.KDQualityFocalLoss``
            (beta 1; weight 1, FCOS 0.4).
        loss_reg_kd (dict, optional): regression KD; None picks the
            reference's: ``mmdet.GIoULoss`` (weight 1) for RetinaNet,
            ``mmkd_dense.KDKLDivLoss`` (``temperature=1``,
            ``class_reduction='sum'``, weight 4) for GFL, ``mmdet.IoULoss``
            (weight 0.75) for FCOS.
        student_head (str): the student's dense head. Defaults to
            ``'bbox_head'``.
        teacher_head (str): the teacher's dense head. Defaults to
            ``'bbox_head'``.
    """

    def __init__(self,
                 reused_teacher_head_idx: int = 3,
                 loss_cls_kd: Optional[Dict] = None,
                 loss_reg_kd: Optional[Dict] = None,
                 student_head: str = 'bbox_head',
                 teacher_head: str = 'bbox_head') -> None:
        super().__init__()
        if not isinstance(reused_teacher_head_idx, int) or \
                reused_teacher_head_idx < 0:
            raise ValueError(
                'CrossKDLoss.reused_teacher_head_idx must be an int >= 0, '
                f'got {reused_teacher_head_idx!r}.')
        self.reused_teacher_head_idx = reused_teacher_head_idx
        self.loss_cls_kd: Optional[nn.Module] = (
            MODELS.build(loss_cls_kd) if loss_cls_kd is not None else None)
        self.loss_reg_kd: Optional[nn.Module] = (
            MODELS.build(loss_reg_kd) if loss_reg_kd is not None else None)
        self.student_head = student_head
        self.teacher_head = teacher_head
        # handles wired once by prepare_from_*; a plain dict, so the heads
        # are not registered here (no duplicated parameters)
        self._handles: Dict[str, nn.Module] = {}

    # ------------------------------------------------------------------ #
    # wiring (called once by the distiller)
    # ------------------------------------------------------------------ #
    def prepare_from_student(self, student: nn.Module) -> None:
        """Keep a handle on the student head (its assigner and priors)."""
        head = find_module(student, self.student_head,
                           'CrossKDLoss.student_head')
        kind = self._check_head(head, 'student_head', self.student_head)
        convs = len(getattr(head, 'cls_convs', []))
        if convs < self.reused_teacher_head_idx:
            raise ValueError(
                f'CrossKDLoss.reused_teacher_head_idx='
                f'{self.reused_teacher_head_idx}, but the student head has '
                f'{convs} tower convs; use a value <= {convs}.')
        self._handles['student_head'] = head
        self._build_default_losses(kind)

    def prepare_from_teacher(self, teacher: nn.Module) -> None:
        """Keep a handle on the frozen teacher head (its remaining layers
        produce the cross-head predictions)."""
        head = find_module(teacher, self.teacher_head,
                           'CrossKDLoss.teacher_head')
        kind = self._check_head(head, 'teacher_head', self.teacher_head)
        convs = len(head.cls_convs)
        if convs < self.reused_teacher_head_idx:
            raise ValueError(
                f'CrossKDLoss.reused_teacher_head_idx='
                f'{self.reused_teacher_head_idx}, but the teacher head has '
                f'{convs} tower convs; use a value <= {convs}.')
        trainable = [n for n, p in head.named_parameters() if p.requires_grad]
        if trainable:
            raise ValueError(
                f'CrossKDLoss.teacher_head="{self.teacher_head}": the teacher '
                f'head has trainable parameters ({trainable[:3]}...); CrossKD '
                'needs a frozen teacher. Keep model.teacher_trainable=False.')
        self._handles['teacher_head'] = head
        self._build_default_losses(kind)

    @staticmethod
    def _check_head(head: nn.Module, key: str, path: str) -> str:
        from mmdet.models.dense_heads import FCOSHead, GFLHead, RetinaHead
        if not isinstance(head, (RetinaHead, GFLHead, FCOSHead)):
            raise TypeError(
                f'CrossKDLoss.{key}="{path}" is a {type(head).__name__}; '
                'CrossKD supports RetinaHead, GFLHead and FCOSHead.')
        return head_kind(head)

    def _build_default_losses(self, kind: str) -> None:
        """Build the reference's KD losses for ``kind`` where the config
        gave none."""
        cls_cfg, reg_cfg = DEFAULT_KD_LOSSES[kind]
        if self.loss_cls_kd is None:
            self.loss_cls_kd = MODELS.build(cls_cfg)
        if self.loss_reg_kd is None:
            self.loss_reg_kd = MODELS.build(reg_cfg)

    # ------------------------------------------------------------------ #
    def forward(self, student_cls_feats: Sequence[Tensor],
                student_reg_feats: Sequence[Tensor],
                teacher_cls_feats: Sequence[Tensor],
                teacher_reg_feats: Sequence[Tensor],
                teacher_outs: Sequence[Sequence[Tensor]],
                batch_context) -> Tensor:
        """Compute the CrossKD loss.

        Args:
            student_cls_feats (Sequence[Tensor]): per level ``(N, C, H, W)``
                output of the student's ``cls_convs[k-1]`` (FPN levels if
                k = 0).
            student_reg_feats (Sequence[Tensor]): same for ``reg_convs``.
            teacher_cls_feats (Sequence[Tensor]): the teacher's features at
                the same layer (for :func:`align_scale`).
            teacher_reg_feats (Sequence[Tensor]): same for ``reg_convs``.
            teacher_outs (tuple): the teacher head's output
                ``(cls_scores, bbox_preds[, centernesses])``, lists over
                levels.
            batch_context (DistillBatchContext): the batch's GT and metas.

        Returns:
            Tensor: scalar loss.
        """
        head_s = self._handles.get('student_head')
        head_t = self._handles.get('teacher_head')
        if head_s is None or head_t is None:
            raise RuntimeError(
                'CrossKDLoss.prepare_from_student / prepare_from_teacher '
                'were not called: build the loss through '
                'mmkd_dense.GTAwareDistiller (it wires the heads once when '
                'the distiller is built).')
        feats = [list(f) for f in (student_cls_feats, student_reg_feats,
                                   teacher_cls_feats, teacher_reg_feats)]
        cls_t, reg_t = list(teacher_outs[0]), list(teacher_outs[1])
        num_levels = len(cls_t)
        counts = [len(f) for f in feats]
        if any(c != num_levels for c in counts):
            raise ValueError(
                f'CrossKDLoss: {num_levels} teacher output levels but '
                f'{counts} recorded student cls/reg and teacher cls/reg '
                'features; record the tower convs with record_idx="all" '
                '(one record per FPN level).')
        k = self.reused_teacher_head_idx
        cross_cls, cross_reg = [], []
        for level, (s_cls, s_reg, t_cls, t_reg) in enumerate(zip(*feats)):
            if s_cls.shape != t_cls.shape or s_reg.shape != t_reg.shape:
                raise ValueError(
                    f'CrossKDLoss level {level}: student features '
                    f'{tuple(s_cls.shape)} vs teacher {tuple(t_cls.shape)}; '
                    'CrossKD needs equal head widths (feat_channels) and '
                    'FPN sizes.')
            x_cls = align_scale(s_cls, t_cls).to(s_cls.dtype)
            x_reg = align_scale(s_reg, t_reg).to(s_reg.dtype)
            if k != 0:
                x_cls, x_reg = F.relu(x_cls), F.relu(x_reg)
            c, r = cross_head_forward(head_t, x_cls, x_reg, level, k)
            cross_cls.append(c)
            cross_reg.append(r)
        sizes = [tuple(c.shape[-2:]) for c in cls_t]
        targets = cached_dense_head_targets(batch_context, head_s, sizes,
                                            cls_t[0].device)
        with autocast_disabled():
            return self._loss(
                to_float32(cross_cls), to_float32(cross_reg),
                to_float32([c.detach() for c in cls_t]),
                to_float32([r.detach() for r in reg_t]), head_s, head_t,
                targets)

    def _loss(self, cross_cls: List[Tensor], cross_reg: List[Tensor],
              cls_t: List[Tensor], reg_t: List[Tensor], head_s: nn.Module,
              head_t: nn.Module, targets: DenseTargets) -> Tensor:
        """KD terms of the cross-head and teacher predictions (float32)."""
        channels = head_t.cls_out_channels
        x_cls = flatten_level_outputs(cross_cls, channels)
        t_cls = flatten_level_outputs(cls_t, channels)
        if x_cls.shape[0] != targets.flat_priors.shape[0]:
            raise ValueError(
                f'CrossKDLoss: the teacher head predicts {x_cls.shape[0]} '
                f'priors, the student head assigns '
                f'{targets.flat_priors.shape[0]}; teacher and student heads '
                'must use the same anchors / strides / levels.')
        reg_weight = t_cls.max(dim=1)[0].sigmoid()
        kind = targets.kind
        if kind == 'point':
            pos_targets = targets.bbox_targets[targets.pos_inds]
            denorm = head_s.centerness_target(pos_targets).sum().item() \
                if targets.num_pos else 1.0
            avg_factor = max(denorm, _FCOS_MIN_DENORM)
            loss_cls = self.loss_cls_kd(x_cls, t_cls, avg_factor=avg_factor)
        else:
            avg_factor = targets.avg_factor
            loss_cls = self.loss_cls_kd(x_cls, t_cls, targets.label_weights,
                                        avg_factor=avg_factor)
            reg_weight = torch.where(targets.label_weights > 0, reg_weight,
                                     torch.zeros_like(reg_weight))
        if kind == 'gfl':
            bins = head_t.reg_max + 1
            x_reg = flatten_level_outputs(cross_reg, 4 * bins)
            t_reg = flatten_level_outputs(reg_t, 4 * bins)
            loss_reg = self.loss_reg_kd(
                x_reg.reshape(-1, bins), t_reg.reshape(-1, bins),
                weight=reg_weight[:, None].expand(-1, 4).reshape(-1),
                avg_factor=4.0)
            loss_reg = loss_reg / reg_weight.sum().clamp(
                min=torch.finfo(torch.float32).eps)
        else:
            size = 4 if kind == 'point' else head_s.bbox_coder.encode_size
            coder = head_s.bbox_coder if kind == 'anchor' else None
            x_box = decode_boxes(head_t, flatten_level_outputs(
                cross_reg, size), targets, bbox_coder=coder)
            t_box = decode_boxes(head_t, flatten_level_outputs(reg_t, size),
                                 targets, bbox_coder=coder)
            loss_reg = self.loss_reg_kd(x_box, t_box, reg_weight,
                                        avg_factor=avg_factor)
        return loss_cls + loss_reg
