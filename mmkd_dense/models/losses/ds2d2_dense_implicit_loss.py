# Copyright (c) mmkd_dense contributors. All rights reserved.
"""DS2D2 implicit stream for dense heads (RetinaNet, FCOS, GFL).

Paper: Gao, Zhao, Yuan, Li, "Dual-Stream Spectral Decoupling Distillation for
Remote Sensing Object Detection", IEEE TGRS 63 (2025), arXiv 2512.04413;
reference code PolarAid/DS2D2 (``ds2d2_retinanet.py``).
"""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmkd_dense.registry import MODELS
from mmkd_dense.structures import DistillBatchContext
from ..detectors.hf_amplifier_detector import load_amplifier_head
from ..utils.haar_wavelet import high_frequency
from ..utils.iteration_interval import IterationInterval
from ..utils.precision import autocast_disabled, to_float32

__all__ = [
    'DS2D2DenseImplicitLoss', 'kd_quality_focal_loss', 'dense_kd_targets',
    'flatten_dense_outputs', 'AMPLIFIERS'
]

#: ``'teacher'``: full-frequency amplifier = the frozen teacher head on the
#: FPN features; ``'high_frequency'``: the trained HF amplifier head on
#: ``HF(features)``.
AMPLIFIERS = ('teacher', 'high_frequency')

_EPS = torch.finfo(torch.float32).eps  # mmdet weight_reduce_loss eps


def kd_quality_focal_loss(pred: Tensor, target_logits: Tensor,
                          weight: Optional[Tensor], avg_factor: float,
                          beta: float = 1.0) -> Tensor:
    """Knowledge-distillation quality focal loss (CrossKD's KD-QFL).

    ``sum(w * BCE(p_s, sigmoid(t)) * |sigmoid(p_s) - sigmoid(t)|^beta)
    / avg_factor``.

    Args:
        pred (Tensor): student logits ``(P, K)``.
        target_logits (Tensor): teacher logits ``(P, K)`` (detached here).
        weight (Tensor, optional): ``(P,)`` per-prior weight.
        avg_factor (float): normaliser.
        beta (float): focusing exponent. Defaults to 1.

    Returns:
        Tensor: scalar.
    """
    target = target_logits.detach().sigmoid()
    loss = F.binary_cross_entropy_with_logits(pred, target, reduction='none')
    loss = loss * (pred.sigmoid() - target).abs().pow(beta)
    if weight is not None:
        loss = loss * weight[:, None]
    return loss.sum() / (avg_factor + _EPS)


def _giou_loss(pred: Tensor, target: Tensor, weight: Tensor,
               avg_factor: float) -> Tensor:
    """``sum(w * (1 - GIoU(pred, target))) / avg_factor`` (mmdet GIoULoss,
    eps 1e-6).

    Identical boxes count 0 even when degenerate (FCOS clamps distances at
    0, and mmdet's eps-guarded GIoU of two equal zero-area boxes is 0, i.e.
    a loss of 1 between equal predictions).
    """
    from mmdet.structures.bbox import bbox_overlaps
    if pred.numel() == 0:
        return pred.sum() * 0
    gious = bbox_overlaps(pred, target, mode='giou', is_aligned=True,
                          eps=1e-6)
    loss = torch.where((pred == target).all(dim=1), torch.zeros_like(gious),
                       1 - gious)
    return (loss * weight).sum() / (avg_factor + _EPS)


def _head_kind(head: nn.Module) -> str:
    """``'gfl'``, ``'anchor'`` (RetinaNet-like) or ``'point'`` (FCOS)."""
    from mmdet.models.dense_heads import AnchorFreeHead, AnchorHead, GFLHead
    if isinstance(head, GFLHead):
        return 'gfl'
    if isinstance(head, AnchorHead):
        return 'anchor'
    if isinstance(head, AnchorFreeHead) and hasattr(head, 'norm_on_bbox'):
        return 'point'
    raise TypeError(
        f'DS2D2DenseImplicitLoss supports RetinaNet-like AnchorHead, GFLHead '
        f'and FCOSHead students, got {type(head).__name__}.')


def dense_kd_targets(student_head: nn.Module,
                     featmap_sizes: Sequence[Tuple[int, int]],
                     batch_context: DistillBatchContext,
                     device: torch.device) -> Dict:
    """Priors, label weights and ``avg_factor`` from the student head's own
    target assignment (no gradient).

    Args:
        student_head (nn.Module): the student's ``bbox_head``.
        featmap_sizes (Sequence[tuple]): ``(H_l, W_l)`` per level.
        batch_context (DistillBatchContext): GT and image metas.
        device (torch.device): device of the features.

    Returns:
        dict: ``kind``; ``priors`` list per level ``(P_l, 4)`` anchors or
        ``(P_l, 2)`` points of one image; ``strides`` per level;
        ``label_weights`` ``(N * sum_l P_l,)`` level-major then
        image-major, or None (FCOS: all 1); ``avg_factor`` (float,
        number of positive priors, >= 1).
    """
    from mmdet.models.utils import unpack_gt_instances
    kind = _head_kind(student_head)
    gts, gts_ignore, metas = unpack_gt_instances(batch_context.data_samples)
    sizes = [tuple(int(v) for v in s) for s in featmap_sizes]
    strides = [s[0] for s in student_head.prior_generator.strides]
    with torch.no_grad():
        if kind == 'point':
            points = student_head.prior_generator.grid_priors(
                sizes, dtype=torch.float32, device=device)
            labels, _ = student_head.get_targets(points, gts)
            flat = torch.cat(labels)
            num_pos = ((flat >= 0) &
                       (flat < student_head.num_classes)).sum().item()
            return dict(kind=kind, priors=points, strides=strides,
                        label_weights=None,
                        avg_factor=max(float(num_pos), 1.0))
        anchors, valid = student_head.get_anchors(sizes, metas, device=device)
        priors = list(anchors[0])  # get_targets may concat anchors in place
        targets = student_head.get_targets(
            anchors, valid, gts, metas, batch_gt_instances_ignore=gts_ignore)
        if kind == 'gfl':
            (_, _, label_weights, _, _, avg_factor) = targets
        else:
            (_, label_weights, _, _, avg_factor) = targets
        label_weights = torch.cat([w.reshape(-1) for w in label_weights])
        return dict(kind=kind, priors=priors, strides=strides,
                    label_weights=label_weights,
                    avg_factor=float(avg_factor))


def flatten_dense_outputs(head: nn.Module, outs: Sequence[List[Tensor]],
                          targets: Dict, num_images: int,
                          bbox_coder: Optional[nn.Module] = None
                          ) -> Tuple[Tensor, Tensor]:
    """Class logits and decoded boxes of a dense head, flattened.

    Args:
        head (nn.Module): the head that produced ``outs`` (FCOS: its
            ``training`` flag tells whether distances are in stride units).
        outs (tuple): the head's forward output; ``outs[0]`` class logits
            ``(N, A*K, H, W)``, ``outs[1]`` box regression per level.
        targets (dict): :func:`dense_kd_targets` output.
        num_images (int): N.
        bbox_coder (nn.Module, optional): delta coder for anchor heads
            (the student head's, as in the reference).

    Returns:
        tuple[Tensor, Tensor]: logits ``(P, K)`` and boxes ``(P, 4)``
        (xyxy pixels), ``P = N * sum_l H_l W_l A``, level-major then
        image-major (the order of ``targets['label_weights']``).
    """
    from mmdet.structures.bbox import distance2bbox, get_box_tensor
    kind = targets['kind']
    cls_out = head.cls_out_channels
    logits, boxes = [], []
    for lvl, (cls, reg) in enumerate(zip(outs[0], outs[1])):
        priors = targets['priors'][lvl]
        n_pred = cls.shape[0] * cls.shape[2] * cls.shape[3] * (
            cls.shape[1] // cls_out)
        if n_pred != num_images * priors.shape[0]:
            raise ValueError(
                f'level {lvl}: the amplifier head predicts {n_pred} priors '
                f'but the student head assigns {num_images} x '
                f'{priors.shape[0]}; student and teacher heads must use the '
                'same anchor generator / strides.')
        logits.append(cls.permute(0, 2, 3, 1).reshape(-1, cls_out))
        priors = priors.repeat(num_images, 1)
        stride = float(targets['strides'][lvl])
        if kind == 'anchor':
            coder = bbox_coder if bbox_coder is not None else head.bbox_coder
            deltas = reg.permute(0, 2, 3, 1).reshape(-1, coder.encode_size)
            boxes.append(get_box_tensor(coder.decode(priors, deltas)))
        elif kind == 'gfl':
            dist = head.integral(reg.permute(0, 2, 3, 1).reshape(
                -1, 4 * (head.reg_max + 1))) * stride
            centers = head.anchor_center(priors)
            boxes.append(distance2bbox(centers, dist))
        else:  # FCOS: stride units in training mode with norm_on_bbox
            dist = reg.permute(0, 2, 3, 1).reshape(-1, 4)
            if head.norm_on_bbox and head.training:
                dist = dist * stride
            boxes.append(distance2bbox(priors, dist))
    return torch.cat(logits), torch.cat(boxes)


@MODELS.register_module()
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

    Label weights and ``avg_factor`` (number of positive priors) come from the
    *student* head's own assigner (``get_targets``). Then (KD-QFL and GIoU,
    CrossKD style)

    - ``L_cls = sum(lw * BCE(cls_s, sig(cls_t)) * |sig(cls_s) - sig(cls_t)|^b)
      / avg_factor``
    - ``L_reg = sum(sig(max_k cls_t) * (1 - GIoU(box_s, box_t))) /
      avg_factor``

    and the loss is ``loss_weight * (loss_cls_weight * L_cls +
    loss_reg_weight * L_reg)``. The amplifier's parameters never get
    gradients; the gradient reaches the student's FPN (and backbone) only.

    Args:
        amplifier (str): ``'teacher'`` or ``'high_frequency'``.
        amplifier_cfg (str | dict, optional): for ``'high_frequency'``: the
            amplifier-stage config path (or its model dict).
        amplifier_ckpt (str, optional): checkpoint of the amplifier stage;
            checked to exist. None leaves the head randomly initialised
            (tests only).
        loss_weight (float): ``w_FF`` / ``w_HA``. Defaults to 1.0.
        beta (float): KD-QFL exponent. Defaults to 1.0.
        loss_cls_weight (float): Defaults to 1.0.
        loss_reg_weight (float): Defaults to 1.0.
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
                 beta: float = 1.0,
                 loss_cls_weight: float = 1.0,
                 loss_reg_weight: float = 1.0,
                 interval: int = 1,
                 interval_offset: int = 0) -> None:
        super().__init__()
        self.schedule = IterationInterval(
            interval, key='DS2D2DenseImplicitLoss.interval',
            offset=interval_offset)
        if amplifier not in AMPLIFIERS:
            raise ValueError(f'amplifier="{amplifier}" must be one of '
                             f'{AMPLIFIERS}.')
        self.amplifier_type = amplifier
        self.loss_weight = loss_weight
        self.beta = beta
        self.loss_cls_weight = loss_cls_weight
        self.loss_reg_weight = loss_reg_weight
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
            batch_context (DistillBatchContext): GT, metas and the student /
                teacher detectors.

        Returns:
            Tensor: scalar loss.
        """
        feats_s, feats_t = tuple(preds_S), tuple(preds_T)
        student_head = getattr(batch_context.student, 'bbox_head', None)
        if student_head is None:
            raise TypeError('DS2D2DenseImplicitLoss needs a single-stage '
                            'student with a bbox_head; use '
                            'DS2D2RoIImplicitLoss for two-stage detectors.')
        scale = self.schedule.step(self.training)
        if scale == 0:
            return feats_s[0].new_zeros(())
        if self.amplifier is None:
            head = batch_context.teacher.bbox_head
        else:
            head = self.amplifier
            feats_s = tuple(high_frequency(f) for f in feats_s)
        with torch.no_grad():
            if self.amplifier is not None:
                feats_t = tuple(high_frequency(f) for f in feats_t)
            outs_t = head(tuple(f.detach() for f in feats_t))
        outs_s = head(feats_s)
        with autocast_disabled():
            return self._loss(to_float32(outs_s), to_float32(outs_t), head,
                              feats_s, student_head, batch_context, scale)

    def _loss(self, outs_s: Sequence, outs_t: Sequence, head: nn.Module,
              feats_s: Sequence[Tensor], student_head: nn.Module,
              batch_context: DistillBatchContext, scale: float) -> Tensor:
        """KD-QFL + GIoU from the amplifier's (float32) outputs on the
        student and teacher features."""
        sizes = tuple(tuple(f.shape[-2:]) for f in feats_s)
        device = feats_s[0].device
        targets = batch_context.cached(
            ('ds2d2_dense_targets', sizes, str(device)),
            lambda: dense_kd_targets(student_head, sizes, batch_context,
                                     device))
        num_images = feats_s[0].shape[0]
        coder = getattr(student_head, 'bbox_coder', None)
        cls_s, box_s = flatten_dense_outputs(head, outs_s, targets,
                                             num_images, coder)
        with torch.no_grad():
            cls_t, box_t = flatten_dense_outputs(head, outs_t, targets,
                                                 num_images, coder)
        avg_factor = targets['avg_factor']
        loss_cls = kd_quality_focal_loss(cls_s, cls_t,
                                         targets['label_weights'],
                                         avg_factor, self.beta)
        reg_weight = cls_t.max(dim=1)[0].sigmoid()
        loss_reg = _giou_loss(box_s, box_t, reg_weight, avg_factor)
        return scale * self.loss_weight * (self.loss_cls_weight * loss_cls +
                                           self.loss_reg_weight * loss_reg)
