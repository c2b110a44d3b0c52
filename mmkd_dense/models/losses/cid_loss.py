# Copyright (c) mmkd_dense contributors. All rights reserved.
"""CID: Centerness-based Instance-aware Distillation of dense-head logits.

CID + Light-ML, arXiv 2411.02861 (Du, Liao, Zhang, Cai, Chen, Huang). Only
the abstract is public; this follows the proposed design of
``docs/methods.md`` section 3 (and LD / CrossKD of section 4 for the
per-prior terms).
"""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmkd_dense.registry import MODELS
from mmkd_dense.structures import DistillBatchContext
from ..utils.cid_weights import cid_weights
from ..utils.dense_head_kd import (aligned_giou_loss, find_module,
                                   get_box_tensor, prior_grid)
from ..utils.precision import autocast_disabled, to_float32
from ..utils.renamed_args import renamed_args
from .kd_quality_focal_loss import kd_quality_focal_loss

__all__ = ['CIDLoss', 'distribution_kl', 'BOX_KD_MODES']

BOX_KD_MODES = ('kl', 'giou', 'none')


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


@MODELS.register_module()
@renamed_args(box_weight='reg_weight')
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
    the teacher's head type. Both heads are wired once when the distiller is
    built (:meth:`prepare_from_student`, :meth:`prepare_from_teacher`).

    KDQFL is the registered loss's function
    (:func:`~mmkd_dense.models.losses.kd_quality_focal_loss.
    kd_quality_focal_loss`, per prior, summed over the classes); the GIoU is
    mmdet's through :func:`~mmkd_dense.models.utils.dense_head_kd.
    aligned_giou_loss` (identical boxes cost 0, also degenerate ones).

    Args:
        box_kd (str): ``'kl'``, ``'giou'`` or ``'none'``.
        cls_weight (float): lc. Defaults to 1.0.
        reg_weight (float, optional): lb, weight of the box term (its kind
            set by ``box_kd``); None gives 0.25 for ``'kl'`` and
            1.0 for ``'giou'``.
        temperature (float): T of ``'kl'``. Defaults to 10.
        qfl_beta (float): KDQFL beta. Defaults to 1.0.
        expand (float): CID box enlargement. Defaults to 1.5.
        min_half (float): minimum half-size of an enlarged box, in strides.
            Defaults to 1.0.
        student_head (str): the student's dense head. Defaults to
            ``'bbox_head'``.
        teacher_head (str): the teacher's dense head (run on the teacher's
            neck features). Defaults to ``'bbox_head'``.
        loss_weight (float): global weight. Defaults to 1.0.

    Mixed precision: the teacher head runs under the caller's autocast;
    both heads' outputs are cast to float32 and the KD terms (KL, box
    decoding, GIoU) run with autocast disabled, so the loss is float32.
    """

    def __init__(self,
                 box_kd: str = 'kl',
                 cls_weight: float = 1.0,
                 reg_weight: Optional[float] = None,
                 temperature: float = 10.0,
                 qfl_beta: float = 1.0,
                 expand: float = 1.5,
                 min_half: float = 1.0,
                 student_head: str = 'bbox_head',
                 teacher_head: str = 'bbox_head',
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        if box_kd not in BOX_KD_MODES:
            raise ValueError(f'CIDLoss.box_kd must be one of {BOX_KD_MODES}, '
                             f'got "{box_kd}".')
        self.box_kd = box_kd
        self.cls_weight = cls_weight
        self.reg_weight = (reg_weight if reg_weight is not None else
                           (0.25 if box_kd == 'kl' else 1.0))
        self.temperature = temperature
        self.qfl_beta = qfl_beta
        self.expand = expand
        self.min_half = min_half
        self.student_head = student_head
        self.teacher_head = teacher_head
        self.loss_weight = loss_weight
        # handles wired by prepare_from_*; a plain dict, so the detectors'
        # heads are not registered here (no duplicated parameters)
        self._handles: Dict[str, nn.Module] = {}

    # ------------------------------------------------------------------ #
    # wiring (called once by the distiller)
    # ------------------------------------------------------------------ #
    def prepare_from_student(self, student: nn.Module) -> None:
        """Keep a handle on the student's dense head."""
        try:
            head = find_module(student, self.student_head,
                               'CIDLoss.student_head')
        except AttributeError as err:
            raise AttributeError(
                f'{err} CIDLoss needs a dense head; use CIDRoILoss for a '
                'two-stage RoI head.') from None
        if getattr(head, 'prior_generator', None) is None:
            raise TypeError(
                f'CIDLoss.student_head="{self.student_head}" is a '
                f'{type(head).__name__} without prior_generator; CIDLoss '
                'needs a dense head (RetinaHead, FCOSHead, GFLHead, ...); '
                'use CIDRoILoss for a two-stage RoI head.')
        self._handles['student_head'] = head

    def prepare_from_teacher(self, teacher: nn.Module) -> None:
        """Keep a handle on the teacher's dense head (run without gradient
        on the teacher's recorded neck features)."""
        self._handles['teacher_head'] = find_module(
            teacher, self.teacher_head, 'CIDLoss.teacher_head')

    def _handle(self, name: str) -> nn.Module:
        head = self._handles.get(name)
        if head is None:
            raise RuntimeError(
                f'CIDLoss.{name} is not wired: build the loss through '
                'mmkd_dense.GTAwareDistiller (it calls prepare_from_student / '
                'prepare_from_teacher once when the distiller is built), or '
                'call them yourself.')
        return head

    # ------------------------------------------------------------------ #
    def _teacher_outputs(self, teacher_feats: Sequence[Tensor],
                         student_head: nn.Module) -> Tuple[List[Tensor], ...]:
        """Teacher head forward (no grad) on the teacher's neck features,
        in the student head's train/eval mode (FCOS scales boxes at test)."""
        head_t = self._handle('teacher_head')
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
            batch_context (DistillBatchContext): GT boxes and input shape.

        Returns:
            Tensor: scalar loss (0 for a batch without GT).
        """
        head_s = self._handle('student_head')
        teacher_outs = self._teacher_outputs(teacher_feats, head_s)
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
            stride, offset = prior_grid(head_s, level)
            weight = cid_weights(batch_context, (height, width), cs.device,
                                 stride=stride, offset=offset,
                                 expand=self.expand, min_half=self.min_half)
            z = z + weight.sum()
            cost = self.cls_weight * self._cls_term(
                cs.float(), ct.float(), num_priors)  # (N, H, W)
            if self.box_kd != 'none' and self.reg_weight > 0:
                cost = cost + self.reg_weight * self._box_term(
                    bs.float(), bt.float(), head_s, level, num_priors)
            total = total + (weight * cost).sum()
        return self.loss_weight * total / z.clamp(min=1.0)

    def _cls_term(self, cls_s: Tensor, cls_t: Tensor,
                  num_priors: int) -> Tensor:
        """Per-location KDQFL ``(N, H, W)``: summed over the K classes,
        mean over the A anchors of a location."""
        n, channels, height, width = cls_s.shape
        classes = channels // num_priors

        def rows(x: Tensor) -> Tensor:  # (N*H*W*A, K)
            return x.permute(0, 2, 3, 1).reshape(-1, classes)

        qfl = kd_quality_focal_loss(rows(cls_s), rows(cls_t),
                                    beta=self.qfl_beta, reduction='none')
        return qfl.sum(1).reshape(n, height, width, num_priors).mean(-1)

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
            boxes_s = get_box_tensor(head.bbox_coder.decode(anchors,
                                                            deltas_s))
            boxes_t = get_box_tensor(head.bbox_coder.decode(anchors,
                                                            deltas_t))
        else:  # (l, t, r, b) distances from a shared point: GIoU is
            # translation and scale invariant, so decode about the origin.
            boxes_s = torch.cat([-deltas_s[:, :2], deltas_s[:, 2:]], 1)
            boxes_t = torch.cat([-deltas_t[:, :2], deltas_t[:, 2:]], 1)
        return aligned_giou_loss(boxes_s, boxes_t.detach()).reshape(
            n, height, width, num_priors).mean(-1)

