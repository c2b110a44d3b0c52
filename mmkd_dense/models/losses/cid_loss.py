# Copyright (c) mmkd_dense contributors. All rights reserved.
"""CID: Centerness-based Instance-aware Distillation of dense-head logits.

CID + Light-ML, arXiv 2411.02861 (Du, Liao, Zhang, Cai, Chen, Huang). Only
the abstract is public; this follows the proposed design of
``docs/methods.md`` section 3 (and LD / CrossKD of section 4 for the
per-prior terms).
"""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmdet.structures.bbox import bbox_overlaps
from torch import Tensor, nn

from mmkd_dense.registry import MODELS
from mmkd_dense.structures import DistillBatchContext
from ..utils.cid_weights import cid_weights
from ..utils.precision import autocast_disabled, to_float32

__all__ = ['CIDLoss', 'kd_quality_focal_loss', 'distribution_kl',
           'giou_loss', 'prior_grid_of']

BOX_KD_MODES = ('kl', 'giou', 'none')


def kd_quality_focal_loss(pred: Tensor, target: Tensor, beta: float = 1.0,
                          dim: int = 1) -> Tensor:
    """Quality-focal KD on sigmoid scores (CrossKD's ``KDQualityFocalLoss``).

    ``sum_k BCE(p_k, q_k) * |p_k - q_k|^beta`` with ``p = sigmoid(s)``,
    ``q = sigmoid(t)``.

    Args:
        pred (Tensor): student logits, classes along ``dim``.
        target (Tensor): teacher logits, same shape (not differentiated).
        beta (float): focusing exponent. Defaults to 1.0.
        dim (int): class dimension summed over.

    Returns:
        Tensor: ``pred`` shape without ``dim``; exactly 0 where
        ``pred == target``.
    """
    soft = target.detach().sigmoid()
    focal = (pred.sigmoid() - soft).abs().pow(beta)
    bce = F.binary_cross_entropy_with_logits(pred, soft, reduction='none')
    return (bce * focal).sum(dim)


def distribution_kl(pred: Tensor, target: Tensor, temperature: float,
                    dim: int) -> Tensor:
    """``T^2 * KL(softmax(t / T) || softmax(s / T))`` along ``dim``.

    Args:
        pred (Tensor): student logits.
        target (Tensor): teacher logits, same shape (not differentiated).
        temperature (float): T.
        dim (int): distribution dimension (summed over).

    Returns:
        Tensor: ``pred`` shape without ``dim``, >= 0, 0 when equal.
    """
    log_p = F.log_softmax(pred / temperature, dim=dim)
    log_q = F.log_softmax(target.detach() / temperature, dim=dim)
    return (log_q.exp() * (log_q - log_p)).sum(dim) * temperature**2


def giou_loss(pred: Tensor, target: Tensor) -> Tensor:
    """``1 - GIoU(pred, target)`` of aligned boxes, 0 for identical boxes.

    Identical boxes give exactly 0 even when degenerate (e.g. the zero-size
    boxes of an FCOS head whose clamped distances are all 0), where the
    eps-regularised GIoU would give about 1.

    Args:
        pred (Tensor): ``(P, 4)`` student boxes.
        target (Tensor): ``(P, 4)`` teacher boxes (not differentiated).

    Returns:
        Tensor: ``(P,)`` in ``[0, 2]``.
    """
    target = target.detach()
    giou = bbox_overlaps(pred, target, mode='giou', is_aligned=True,
                         eps=1e-6)
    same = (pred == target).all(dim=1)
    return torch.where(same, torch.zeros_like(giou), 1 - giou)


def prior_grid_of(head: nn.Module, level: int
                  ) -> Tuple[Tuple[float, float], float]:
    """Stride and prior-centre offset of a dense head's level.

    Args:
        head (nn.Module): an mmdet dense head with ``prior_generator``.
        level (int): level index.

    Returns:
        tuple: ``((s_h, s_w), offset)`` with prior ``(i, j)`` centred at
        ``((j + offset) * s_w, (i + offset) * s_h)``.
    """
    gen = getattr(head, 'prior_generator', None)
    if gen is None:
        raise AttributeError(
            f'{type(head).__name__} has no prior_generator; CIDLoss needs a '
            'dense head (RetinaHead, FCOSHead, GFLHead, ATSSHead, ...).')
    stride_w, stride_h = (float(v) for v in gen.strides[level])
    if hasattr(gen, 'base_anchors'):  # AnchorGenerator family
        centre_x = float(gen.base_anchors[level][0, 0::2].mean())
        offset = centre_x / stride_w
    else:  # MlvlPointGenerator
        offset = float(getattr(gen, 'offset', 0.5))
    return (stride_h, stride_w), offset


@MODELS.register_module()
class CIDLoss(nn.Module):
    """CID-weighted logit distillation for a dense detection head.

    For every level and prior ``p`` (CID weight ``W(p)``, see
    :mod:`mmkd_dense.models.utils.cid_weights`)::

        L_CID = (1/Z) * sum_p W(p) * [ lc * KDQFL(s_p, t_p) + lb * B(p) ]
        Z     = sum_p W(p)        (all levels; = #instances x #levels)

    - ``KDQFL``: quality-focal KD on the K sigmoid class scores (beta 1),
      averaged over the A anchors of a location.
    - ``B(p)`` with ``box_kd='kl'`` (GFL): ``(T^2 / 4) * sum_edges
      KL(softmax(t_e / T) || softmax(s_e / T))`` on the 4 edge distributions
      of ``reg_max + 1`` bins (LD, T = 10, lb = 0.25).
    - ``B(p)`` with ``box_kd='giou'`` (RetinaNet, FCOS, ATSS):
      ``1 - GIoU(student box, teacher box)`` with both boxes decoded from the
      same prior (anchor deltas through the head's ``bbox_coder``; FCOS
      ``ltrb`` distances directly), lb = 1 (CrossKD).

    Student outputs come from a ``ModuleOutputs`` recorder on the student's
    ``bbox_head`` (the tuple ``(cls_scores, bbox_preds[, ...])`` of all
    levels, recorded when ``bbox_head.loss`` calls the head). The teacher's
    outputs are computed here, without gradient, by the teacher's own head
    from its recorded neck features (``teacher_forward='feat'``); this costs
    the same as a ``'tensor'`` teacher forward and sees the head's real
    outputs (after GFL/FCOS ``Scale``), which hooks on the output convs would
    miss. Teacher and student heads must produce outputs of equal shape
    (same classes, anchors, ``reg_max``), e.g. a ``LightML*Head`` student of
    the teacher's head type.

    Args:
        box_kd (str): ``'kl'``, ``'giou'`` or ``'none'``.
        cls_weight (float): lc. Defaults to 1.0.
        box_weight (float, optional): lb; None gives 0.25 for ``'kl'`` and
            1.0 for ``'giou'``.
        temperature (float): T of ``'kl'``. Defaults to 10.
        qfl_beta (float): KDQFL beta. Defaults to 1.0.
        expand (float): CID box enlargement. Defaults to 1.5.
        min_half (float): minimum half-size of an enlarged box, in strides.
            Defaults to 1.0.
        head (str): attribute of both detectors holding the dense head.
            Defaults to ``'bbox_head'``.
        loss_weight (float): global weight. Defaults to 1.0.

    Mixed precision: the teacher head runs under the caller's autocast;
    both heads' outputs are cast to float32 and the KD terms (KL, box
    decoding, GIoU) run with autocast disabled, so the loss is float32.
    """

    def __init__(self,
                 box_kd: str = 'kl',
                 cls_weight: float = 1.0,
                 box_weight: Optional[float] = None,
                 temperature: float = 10.0,
                 qfl_beta: float = 1.0,
                 expand: float = 1.5,
                 min_half: float = 1.0,
                 head: str = 'bbox_head',
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        if box_kd not in BOX_KD_MODES:
            raise ValueError(f'CIDLoss.box_kd must be one of {BOX_KD_MODES}, '
                             f'got "{box_kd}".')
        self.box_kd = box_kd
        self.cls_weight = cls_weight
        self.box_weight = (box_weight if box_weight is not None else
                           (0.25 if box_kd == 'kl' else 1.0))
        self.temperature = temperature
        self.qfl_beta = qfl_beta
        self.expand = expand
        self.min_half = min_half
        self.head = head
        self.loss_weight = loss_weight

    # ------------------------------------------------------------------ #
    def _teacher_outputs(self, teacher_feats: Sequence[Tensor],
                         context: DistillBatchContext,
                         student_head: nn.Module) -> Tuple[List[Tensor], ...]:
        """Teacher head forward (no grad) on the teacher's neck features,
        in the student head's train/eval mode (FCOS scales boxes at test)."""
        teacher = context.teacher
        if teacher is None or not hasattr(teacher, self.head):
            raise AttributeError(
                f'CIDLoss.head="{self.head}": the teacher has no such head.')
        head_t = getattr(teacher, self.head)
        was_training = head_t.training
        head_t.training = student_head.training
        try:
            with torch.no_grad():
                outs = head_t(tuple(teacher_feats))
        finally:
            head_t.training = was_training
        return outs

    def forward(self, student_outs: Sequence[Sequence[Tensor]],
                teacher_feats: Sequence[Tensor],
                batch_context: DistillBatchContext) -> Tensor:
        """Compute ``L_CID``.

        Args:
            student_outs (tuple): the student head's forward output,
                ``(cls_scores, bbox_preds[, ...])``, each a list over levels
                of ``(N, A*K, H, W)`` / ``(N, A*D, H, W)`` tensors.
            teacher_feats (tuple[Tensor]): the teacher's neck outputs.
            batch_context (DistillBatchContext): GT boxes, input shape and
                the two detectors.

        Returns:
            Tensor: scalar loss (0 for a batch without GT).
        """
        student = batch_context.student
        if student is None or not hasattr(student, self.head):
            raise AttributeError(
                f'CIDLoss.head="{self.head}": the student has no such head.')
        head_s = getattr(student, self.head)
        teacher_outs = self._teacher_outputs(teacher_feats, batch_context,
                                             head_s)
        with autocast_disabled():
            return self._loss(
                to_float32((student_outs[0], student_outs[1])),
                to_float32((teacher_outs[0], teacher_outs[1])), head_s,
                batch_context)

    def _loss(self, student_outs: Sequence[List[Tensor]],
              teacher_outs: Sequence[List[Tensor]], head_s: nn.Module,
              batch_context: DistillBatchContext) -> Tensor:
        """``L_CID`` from the (float32) class and box outputs of both
        heads, each a list over levels."""
        cls_s, box_s = student_outs
        cls_t, box_t = teacher_outs
        if len(cls_s) != len(cls_t):
            raise ValueError(
                f'student head has {len(cls_s)} levels, teacher head '
                f'{len(cls_t)}; CIDLoss needs the same FPN levels.')
        num_priors = int(getattr(head_s, 'num_base_priors', 1))
        total = cls_s[0].new_zeros(())
        z = cls_s[0].new_zeros(())
        for level, (cs, ct, bs, bt) in enumerate(
                zip(cls_s, cls_t, box_s, box_t)):
            if cs.shape != ct.shape or bs.shape != bt.shape:
                raise ValueError(
                    f'level {level}: student outputs {tuple(cs.shape)}/'
                    f'{tuple(bs.shape)} vs teacher {tuple(ct.shape)}/'
                    f'{tuple(bt.shape)}; teacher and student heads must have '
                    'the same num_classes, anchors and reg_max.')
            n, _, height, width = cs.shape
            stride, offset = prior_grid_of(head_s, level)
            weight = cid_weights(batch_context, (height, width), cs.device,
                                 stride=stride, offset=offset,
                                 expand=self.expand, min_half=self.min_half)
            z = z + weight.sum()
            cost = self.cls_weight * kd_quality_focal_loss(
                cs.reshape(n, num_priors, -1, height, width).float(),
                ct.reshape(n, num_priors, -1, height, width).float(),
                self.qfl_beta, dim=2).mean(1)  # (N, H, W)
            if self.box_kd != 'none' and self.box_weight > 0:
                cost = cost + self.box_weight * self._box_term(
                    bs.float(), bt.float(), head_s, level, num_priors)
            total = total + (weight * cost).sum()
        return self.loss_weight * total / z.clamp(min=1.0)

    def _box_term(self, box_s: Tensor, box_t: Tensor, head: nn.Module,
                  level: int, num_priors: int) -> Tensor:
        """Per-location box KD ``(N, H, W)`` (mean over anchors)."""
        n, channels, height, width = box_s.shape
        if self.box_kd == 'kl':
            bins = channels // (4 * num_priors)
            shape = (n, num_priors, 4, bins, height, width)
            kl = distribution_kl(box_s.reshape(shape), box_t.reshape(shape),
                                 self.temperature, dim=3)  # (N, A, 4, H, W)
            return kl.mean(2).mean(1)  # (T^2/4) sum_edges KL, mean anchors
        # giou: decode both from the same priors
        if channels != 4 * num_priors:
            raise ValueError(
                f'CIDLoss.box_kd="giou" needs 4 box channels per prior, got '
                f'{channels} for {num_priors} priors (use box_kd="kl" for '
                'GFL distributions).')
        deltas_s = box_s.permute(0, 2, 3, 1).reshape(-1, 4)
        deltas_t = box_t.permute(0, 2, 3, 1).reshape(-1, 4)
        gen = head.prior_generator
        if hasattr(gen, 'base_anchors'):  # anchor deltas
            anchors = gen.single_level_grid_priors(
                (height, width), level, device=box_s.device)
            anchors = anchors.repeat(n, 1)
            boxes_s = _box_tensor(head.bbox_coder.decode(anchors, deltas_s))
            boxes_t = _box_tensor(head.bbox_coder.decode(anchors, deltas_t))
        else:  # (l, t, r, b) distances from a shared point: GIoU is
            # translation and scale invariant, so decode about the origin.
            boxes_s = torch.cat([-deltas_s[:, :2], deltas_s[:, 2:]], 1)
            boxes_t = torch.cat([-deltas_t[:, :2], deltas_t[:, 2:]], 1)
        return giou_loss(boxes_s, boxes_t).reshape(
            n, height, width, num_priors).mean(-1)


def _box_tensor(boxes) -> Tensor:
    return boxes.tensor if hasattr(boxes, 'tensor') else boxes
