# Copyright (c) mmkd_dense contributors. All rights reserved.
"""DS2D2 implicit stream for dense heads (RetinaNet, FCOS, GFL).

Paper: Gao, Zhao, Yuan, Li, "Dual-Stream Spectral Decoupling Distillation for
Remote Sensing Object Detection", IEEE TGRS 63 (2025), arXiv 2512.04413;
reference code PolarAid/DS2D2 (``ds2d2_retinanet.py``).
"""
from typing import Dict, Optional, Sequence, Union

import torch
from mmdet.models.losses.utils import weight_reduce_loss
from torch import Tensor, nn

from mmkd_dense.registry import MODELS
from mmkd_dense.structures import DistillBatchContext
from ..utils.amplifier_head import load_amplifier_head
from ..utils.dense_head_kd import (DenseTargets, aligned_giou_loss,
                                   cached_dense_head_targets, decode_boxes,
                                   find_module, flatten_level_outputs,
                                   head_kind)
from ..utils.haar_wavelet import high_frequency
from ..utils.iteration_interval import IterationInterval
from ..utils.precision import autocast_disabled, to_float32
from ..utils.renamed_args import renamed_args
from .kd_quality_focal_loss import KDQualityFocalLoss

__all__ = ['DS2D2DenseImplicitLoss', 'AMPLIFIERS']

#: ``'teacher'``: full-frequency amplifier = the frozen teacher head on the
#: FPN features; ``'high_frequency'``: the trained HF amplifier head on
#: ``HF(features)``.
AMPLIFIERS = ('teacher', 'high_frequency')


@MODELS.register_module()
@renamed_args(loss_cls_weight='cls_weight',
              loss_reg_weight='reg_weight',
              beta='qfl_beta')
class DS2D2DenseImplicitLoss(nn.Module):
    """Implicit stream of DS2D2 for dense heads: one amplifier.

    An *amplifier* (a frozen detection head) turns the student-teacher
    feature gap into a prediction gap: ``cls_s, box_s = Head(F_s)``,
    ``cls_t, box_t = Head(F_t)`` over all FPN levels, with

    - ``amplifier='teacher'`` (full-frequency amplifier): the frozen teacher
      ``bbox_head`` on the FPN features;
    - ``amplifier='high_frequency'``: the head trained in stage 2
      (:class:`~mmkd_dense.models.detectors.HFAmplifierDetector`), loaded
      from ``amplifier_ckpt``, on ``HF(F)`` (sum of the Haar detail bands,
      upsampled).

    Label weights and ``avg_factor`` come from the *student* head's own
    target assignment (:func:`~mmkd_dense.models.utils.dense_head_kd.
    dense_head_targets`: ``get_targets``' ``avg_factor`` for anchor and GFL
    heads, ``max(#positives, 1)`` for FCOS). Then (KD-QFL and GIoU, CrossKD
    style)

    - ``L_cls = sum(lw * BCE(cls_s, sig(cls_t)) * |sig(cls_s) - sig(cls_t)|^b)
      / avg_factor``
    - ``L_reg = sum(sig(max_k cls_t) * (1 - GIoU(box_s, box_t))) /
      avg_factor``

    and the loss is ``loss_weight * (cls_weight * L_cls +
    reg_weight * L_reg)``. The amplifier's parameters never get
    gradients; the gradient reaches the student's FPN (and backbone) only.
    ``L_cls`` is the registered ``mmkd_dense.KDQualityFocalLoss``; the GIoU
    is mmdet's (``bbox_overlaps(mode='giou', eps=1e-6)``) through
    :func:`~mmkd_dense.models.utils.dense_head_kd.aligned_giou_loss`, where
    identical boxes cost 0 also when degenerate (FCOS clamps distances at
    0, and mmdet's eps-guarded GIoU of two equal zero-area boxes is 0).

    Network parts are wired once when the distiller is built: the student
    head (its assigner, prior generator and box coder) by
    :meth:`prepare_from_student`, the teacher head (``amplifier='teacher'``)
    by :meth:`prepare_from_teacher`.

    Args:
        amplifier (str): ``'teacher'`` or ``'high_frequency'``.
        amplifier_cfg (str | dict, optional): for ``'high_frequency'``: the
            amplifier-stage config path (or its model dict).
        amplifier_ckpt (str, optional): checkpoint of the amplifier stage;
            checked to exist. None leaves the head randomly initialised
            (tests only).
        loss_weight (float): ``w_FF`` / ``w_HA``. Defaults to 1.0.
        qfl_beta (float): KD-QFL exponent ``beta``. Defaults to 1.0.
        cls_weight (float): Defaults to 1.0.
        reg_weight (float): Defaults to 1.0.
        interval (int): compute this loss on every ``interval``-th training
            iteration only, multiplied by ``interval`` (0 on the others,
            where no head runs); see :class:`IterationInterval`. 1 (the
            default) = every iteration, as the reference. A speed option,
            not part of the paper: each call runs the amplifier head
            three times (teacher features, student features and their
            input gradient).
        interval_offset (int): first iteration (``< interval``) on which
            the loss is computed; give the two amplifiers offsets 0 and 1
            to alternate them. Defaults to 0.
        student_head (str): the student's dense head (whose target
            assignment counts). Defaults to ``'bbox_head'``.
        teacher_head (str): the teacher's dense head, the amplifier of
            ``amplifier='teacher'``. Defaults to ``'bbox_head'``.

    Mixed precision: the amplifier head runs under the caller's autocast
    (like any head); its outputs are cast to float32 and the box decoding,
    GIoU (box areas in pixels overflow float16) and KD sums run with
    autocast disabled, so the loss is float32.
    """

    def __init__(self,
                 amplifier: str = 'teacher',
                 amplifier_cfg: Optional[Union[str, Dict]] = None,
                 amplifier_ckpt: Optional[str] = None,
                 loss_weight: float = 1.0,
                 qfl_beta: float = 1.0,
                 cls_weight: float = 1.0,
                 reg_weight: float = 1.0,
                 interval: int = 1,
                 interval_offset: int = 0,
                 student_head: str = 'bbox_head',
                 teacher_head: str = 'bbox_head') -> None:
        super().__init__()
        self.schedule = IterationInterval(
            interval, key='DS2D2DenseImplicitLoss.interval',
            offset=interval_offset)
        self.student_head = student_head
        self.teacher_head = teacher_head
        # handles wired by prepare_from_*; a plain dict, so the detectors'
        # heads are not registered here (no duplicated parameters)
        self._handles: Dict[str, nn.Module] = {}
        if amplifier not in AMPLIFIERS:
            raise ValueError(f'amplifier="{amplifier}" must be one of '
                             f'{AMPLIFIERS}.')
        self.amplifier_type = amplifier
        self.loss_weight = loss_weight
        self.qfl_beta = qfl_beta
        self.loss_cls_kd = KDQualityFocalLoss(beta=qfl_beta)
        self.cls_weight = cls_weight
        self.reg_weight = reg_weight
        self.amplifier: Optional[nn.Module] = None
        if amplifier == 'high_frequency':
            if amplifier_cfg is None:
                raise ValueError(
                    'DS2D2DenseImplicitLoss(amplifier="high_frequency") needs '
                    'amplifier_cfg = the amplifier-stage config (e.g. '
                    'configs/ds2d2/ds2d2_hf-amplifier_retina-r101_2x_dior.py)'
                    ' and amplifier_ckpt = its trained checkpoint.')
            self.amplifier = load_amplifier_head(
                amplifier_cfg, amplifier_ckpt, 'bbox_head',
                key='DS2D2DenseImplicitLoss')
        elif amplifier_cfg is not None or amplifier_ckpt is not None:
            raise ValueError(
                'amplifier="teacher" uses the teacher head; remove '
                'amplifier_cfg / amplifier_ckpt or set '
                'amplifier="high_frequency".')

    # ------------------------------------------------------------------ #
    # wiring (called once by the distiller)
    # ------------------------------------------------------------------ #
    def prepare_from_student(self, student: nn.Module) -> None:
        """Keep a handle on the student's dense head (its assigner, prior
        generator and box coder)."""
        key = 'DS2D2DenseImplicitLoss.student_head'
        try:
            head = find_module(student, self.student_head, key)
        except AttributeError as err:
            raise TypeError(
                f'{err} DS2D2DenseImplicitLoss needs a single-stage student '
                'with a dense head; use DS2D2RoIImplicitLoss for two-stage '
                'detectors.') from None
        try:
            head_kind(head)
        except TypeError as err:
            raise TypeError(f'{key}="{self.student_head}": {err}') from None
        self._handles['student_head'] = head

    def prepare_from_teacher(self, teacher: nn.Module) -> None:
        """Keep a handle on the teacher's dense head, the full-frequency
        amplifier (``amplifier='teacher'`` only)."""
        if self.amplifier is None:
            self._handles['teacher_head'] = find_module(
                teacher, self.teacher_head,
                'DS2D2DenseImplicitLoss.teacher_head')

    def _handle(self, name: str) -> nn.Module:
        head = self._handles.get(name)
        if head is None:
            raise RuntimeError(
                f'DS2D2DenseImplicitLoss.{name} is not wired: build the loss '
                'through mmkd_dense.GTAwareDistiller (it calls '
                'prepare_from_student / prepare_from_teacher once when the '
                'distiller is built), or call them yourself.')
        return head

    def train(self, mode: bool = True) -> 'DS2D2DenseImplicitLoss':
        """Keep the frozen amplifier in eval mode."""
        super().train(mode)
        if self.amplifier is not None:
            self.amplifier.eval()
        return self

    def forward(self, preds_S: Sequence[Tensor], preds_T: Sequence[Tensor],
                batch_context: DistillBatchContext) -> Tensor:
        """Compute the implicit loss of this amplifier.

        Args:
            preds_S (Sequence[Tensor]): student FPN levels
                ``(N, 256, H_l, W_l)`` (the whole neck output).
            preds_T (Sequence[Tensor]): teacher FPN levels, same sizes.
            batch_context (DistillBatchContext): the batch's GT and metas.

        Returns:
            Tensor: scalar loss.
        """
        feats_s, feats_t = tuple(preds_S), tuple(preds_T)
        student_head = self._handle('student_head')
        scale = self.schedule.step(self.training)
        if scale == 0:
            return feats_s[0].new_zeros(())
        if self.amplifier is None:
            head = self._handle('teacher_head')
        else:
            head = self.amplifier
            feats_s = tuple(high_frequency(f) for f in feats_s)
        with torch.no_grad():
            if self.amplifier is not None:
                feats_t = tuple(high_frequency(f) for f in feats_t)
            outs_t = head(tuple(f.detach() for f in feats_t))
        outs_s = head(feats_s)
        sizes = [tuple(f.shape[-2:]) for f in feats_s]
        targets = cached_dense_head_targets(batch_context, student_head,
                                            sizes, feats_s[0].device)
        with autocast_disabled():
            return self._loss(to_float32(tuple(outs_s[:2])),
                              to_float32(tuple(outs_t[:2])), head,
                              student_head, targets, scale)

    def _loss(self, outs_s: Sequence, outs_t: Sequence, head: nn.Module,
              student_head: nn.Module, targets: DenseTargets,
              scale: float) -> Tensor:
        """KD-QFL + GIoU from the amplifier's (float32) outputs on the
        student and teacher features."""
        channels = head.cls_out_channels
        cls_s = flatten_level_outputs(outs_s[0], channels)
        if cls_s.shape[0] != targets.flat_priors.shape[0]:
            raise ValueError(
                f'the amplifier head ({type(head).__name__}) predicts '
                f'{cls_s.shape[0]} priors but the student head '
                f'({type(student_head).__name__}) assigns '
                f'{targets.flat_priors.shape[0]}; student and teacher heads '
                'must use the same anchor generator / strides.')
        per_location = outs_s[0][0].shape[1] // channels
        box_dim = outs_s[1][0].shape[1] // per_location
        coder = student_head.bbox_coder if targets.kind == 'anchor' \
            else None
        box_s = decode_boxes(head, flatten_level_outputs(outs_s[1], box_dim),
                             targets, bbox_coder=coder)
        with torch.no_grad():
            cls_t = flatten_level_outputs(outs_t[0], channels)
            box_t = decode_boxes(
                head, flatten_level_outputs(outs_t[1], box_dim), targets,
                bbox_coder=coder)
        avg_factor = targets.avg_factor
        loss_cls = self.loss_cls_kd(cls_s, cls_t, targets.label_weights,
                                    avg_factor=avg_factor)
        prior_weight = cls_t.max(dim=1)[0].sigmoid()
        loss_reg = weight_reduce_loss(aligned_giou_loss(box_s, box_t),
                                      prior_weight, 'mean', avg_factor)
        return scale * self.loss_weight * (self.cls_weight * loss_cls +
                                           self.reg_weight * loss_reg)
