# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Shared helpers for knowledge distillation on dense detection heads.

One place for what every head-level KD loss (LD, CrossKD, DS2D2's implicit
stream, CID) needs from an mmdet dense head:

- :func:`head_kind`: ``'anchor'`` (RetinaNet, ATSS, ... deltas from
  anchors), ``'gfl'`` (GFL / LD heads: edge distributions from anchor
  centres) or ``'point'`` (FCOS: distances from points);
- :func:`dense_head_targets`: priors and the head's *own* target assignment
  (labels, label weights, positive mask and indices, ``avg_factor``) for a
  batch, computed without gradient from the batch's data samples;
- :func:`flatten_level_outputs`: per-level ``(N, A*C, H, W)`` maps to one
  ``(P, C)`` tensor in the order of the targets;
- decoding: :func:`decode_boxes` (anchor deltas through the head's
  ``bbox_coder``, FCOS distances, GFL integral of the edge distributions,
  :func:`gfl_integral`) and mmdet's :func:`get_box_tensor`;
- :func:`prior_grid` (stride and prior-centre offset of a level, for
  per-location weights such as CID's);
- :func:`aligned_giou_loss` (``1 - GIoU`` with identical boxes costing 0)
  and :func:`find_module` (a submodule by its dotted name, for the
  ``prepare_from_student`` / ``prepare_from_teacher`` hooks of a loss).

Flat order everywhere: level-major, then image, then location ``(h, w)``,
then anchor -- the order of ``torch.cat([x.permute(0, 2, 3, 1).reshape(-1,
C) for x in levels])`` and of mmdet's ``images_to_levels`` targets.
"""
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmdet.structures.bbox import bbox_overlaps, distance2bbox, get_box_tensor
from torch import Tensor, nn

__all__ = [
    'HEAD_KINDS', 'head_kind', 'DenseTargets', 'dense_head_targets',
    'cached_dense_head_targets',
    'flatten_level_outputs', 'gfl_integral', 'decode_boxes',
    'get_box_tensor', 'aligned_giou_loss', 'find_module', 'prior_grid'
]

#: Kinds of dense heads the helpers understand.
HEAD_KINDS = ('anchor', 'point', 'gfl')


def head_kind(head: nn.Module) -> str:
    """The kind of an mmdet dense head.

    Args:
        head (nn.Module): a dense head.

    Returns:
        str: ``'gfl'`` for ``GFLHead`` and subclasses (``LDHead``),
        ``'anchor'`` for the other ``AnchorHead`` subclasses (RetinaNet,
        ATSS, ...), ``'point'`` for FCOS-like ``AnchorFreeHead`` subclasses
        (those with ``norm_on_bbox``).

    Raises:
        TypeError: any other module.
    """
    from mmdet.models.dense_heads import AnchorFreeHead, AnchorHead, GFLHead
    if isinstance(head, GFLHead):
        return 'gfl'
    if isinstance(head, AnchorHead):
        return 'anchor'
    if isinstance(head, AnchorFreeHead) and hasattr(head, 'norm_on_bbox'):
        return 'point'
    raise TypeError(
        f'{type(head).__name__} is not a supported dense head: expected an '
        'mmdet AnchorHead (RetinaHead, ATSSHead, ...), a GFLHead or an '
        'FCOSHead.')


@dataclass
class DenseTargets:
    """A dense head's own target assignment for one batch (no gradient).

    ``P = N * sum_l P_l`` priors in the flat order of the module docstring.

    Attributes:
        kind (str): :func:`head_kind` of the head.
        num_images (int): N.
        featmap_sizes (list[tuple[int, int]]): ``(H_l, W_l)`` per level.
        strides (list[float]): prior stride of each level (width stride).
        priors (list[Tensor]): per level, the priors of one image:
            ``(P_l, 4)`` anchors (xyxy) or ``(P_l, 2)`` points.
        flat_priors (Tensor): ``(P, 4)`` or ``(P, 2)``: ``priors``
            repeated per image, levels concatenated.
        flat_strides (Tensor): ``(P,)`` stride of each prior.
        labels (Tensor): ``(P,)`` int64; ``num_classes`` = background.
        label_weights (Tensor, optional): ``(P,)``; None for point heads
            (all priors count).
        bbox_targets (Tensor): ``(P, 4)`` as the head's ``get_targets``
            returns them: encoded deltas (anchor heads), xyxy pixel boxes
            (GFL), ``(l, t, r, b)`` distances (FCOS; in strides when
            ``norm_on_bbox``).
        pos_mask (Tensor): ``(P,)`` bool, positive priors.
        pos_inds (Tensor): ``(num_pos,)`` int64 indices of the positives.
        avg_factor (float): the normaliser of the head's own losses:
            ``get_targets``' ``avg_factor`` (anchor, GFL: with a pseudo
            sampler the sum over images of ``max(num_pos_i, 1)``, so >= N),
            ``max(num_pos, 1)`` for point heads (``FCOSHead``).
    """

    kind: str
    num_images: int
    featmap_sizes: List[Tuple[int, int]]
    strides: List[float]
    priors: List[Tensor]
    flat_priors: Tensor
    flat_strides: Tensor
    labels: Tensor
    label_weights: Optional[Tensor]
    bbox_targets: Tensor
    pos_mask: Tensor
    pos_inds: Tensor
    avg_factor: float

    @property
    def num_pos(self) -> int:
        """Number of positive priors in the batch."""
        return int(self.pos_inds.numel())

    @property
    def num_level_priors(self) -> List[int]:
        """``N * P_l`` per level (flat length of each level)."""
        return [self.num_images * p.shape[0] for p in self.priors]


def dense_head_targets(head: nn.Module,
                       featmap_sizes: Sequence[Tuple[int, int]],
                       data_samples: Sequence,
                       device: torch.device) -> DenseTargets:
    """Priors and the head's own target assignment, without gradient.

    Runs the head's prior generator and its ``get_targets`` (assigner,
    sampler) exactly as the head's ``loss_by_feat`` does, on the GT of
    ``data_samples`` (``gt_instances``, ``ignored_instances``, metas).

    Args:
        head (nn.Module): the (student) dense head whose assignment counts.
        featmap_sizes (Sequence[tuple]): ``(H_l, W_l)`` per level.
        data_samples (Sequence[DetDataSample]): the batch's data samples
            (e.g. ``batch_context.data_samples``).
        device (torch.device): device of the head outputs.

    Returns:
        DenseTargets: see the class.
    """
    from mmdet.models.utils import unpack_gt_instances
    kind = head_kind(head)
    gts, gts_ignore, metas = unpack_gt_instances(list(data_samples))
    sizes = [(int(s[0]), int(s[1])) for s in featmap_sizes]
    strides = [float(s[0]) for s in head.prior_generator.strides[:len(sizes)]]
    num_images = len(metas)
    with torch.no_grad():
        if kind == 'point':
            priors = head.prior_generator.grid_priors(
                sizes, dtype=torch.float32, device=device)
            labels, bbox_targets = head.get_targets(priors, gts)
            labels = torch.cat(labels)
            bbox_targets = torch.cat(bbox_targets)
            label_weights = None
        else:
            anchors, valid = head.get_anchors(sizes, metas, device=device)
            # get_targets may replace the per-image lists in place
            priors = [get_box_tensor(a) for a in anchors[0]]
            targets = head.get_targets(
                anchors, valid, gts, metas,
                batch_gt_instances_ignore=gts_ignore)
            # AnchorHead: (labels, label_weights, bbox_targets, bbox_weights,
            # avg_factor); GFLHead / ATSSHead prepend the anchors.
            if _returns_anchors(head):
                targets = targets[1:]
            labels, label_weights, bbox_targets, _, avg_factor = targets[:5]
            labels = torch.cat([t.reshape(-1) for t in labels])
            label_weights = torch.cat(
                [t.reshape(-1) for t in label_weights])
            bbox_targets = torch.cat(
                [get_box_tensor(t).reshape(-1, t.shape[-1])
                 for t in bbox_targets])
        pos_mask = (labels >= 0) & (labels < head.num_classes)
        pos_inds = pos_mask.nonzero().reshape(-1)
        if kind == 'point':
            avg_factor = max(float(pos_inds.numel()), 1.0)
        flat_priors = torch.cat(
            [p.repeat(num_images, 1) for p in priors])
        flat_strides = torch.cat([
            flat_priors.new_full((num_images * p.shape[0],), s)
            for p, s in zip(priors, strides)
        ])
    return DenseTargets(
        kind=kind, num_images=num_images, featmap_sizes=sizes,
        strides=strides, priors=list(priors), flat_priors=flat_priors,
        flat_strides=flat_strides, labels=labels,
        label_weights=label_weights, bbox_targets=bbox_targets,
        pos_mask=pos_mask, pos_inds=pos_inds, avg_factor=float(avg_factor))


def cached_dense_head_targets(batch_context, head: nn.Module,
                              featmap_sizes: Sequence[Tuple[int, int]],
                              device: torch.device) -> DenseTargets:
    """:func:`dense_head_targets` on ``batch_context.data_samples``, computed
    once per batch, head and level sizes when the context can cache
    (``batch_context.cached``), so several losses of one config share the
    assignment.

    Args:
        batch_context (DistillBatchContext): the batch.
        head (nn.Module): the dense head whose assignment counts.
        featmap_sizes (Sequence[tuple]): ``(H_l, W_l)`` per level.
        device (torch.device): device of the head outputs.

    Returns:
        DenseTargets: see :func:`dense_head_targets`.
    """
    sizes = tuple((int(s[0]), int(s[1])) for s in featmap_sizes)

    def build() -> DenseTargets:
        return dense_head_targets(head, sizes, batch_context.data_samples,
                                  device)

    cached = getattr(batch_context, 'cached', None)
    if cached is None:
        return build()
    return cached(('dense_head_targets', id(head), sizes, str(device)),
                  build)


def _returns_anchors(head: nn.Module) -> bool:
    """Whether ``head.get_targets`` returns the anchors first (ATSS, GFL)."""
    from mmdet.models.dense_heads import ATSSHead, GFLHead
    return isinstance(head, (ATSSHead, GFLHead))


def flatten_level_outputs(outs: Sequence[Tensor], channels: int) -> Tensor:
    """Concatenate per-level head maps into one ``(P, channels)`` tensor.

    Args:
        outs (Sequence[Tensor]): per level ``(N, A * channels, H_l, W_l)``.
        channels (int): values per prior (``cls_out_channels``, 4, or
            ``4 * (reg_max + 1)``).

    Returns:
        Tensor: ``(sum_l N * H_l * W_l * A, channels)``, level-major, then
        image, location, anchor.
    """
    flat = []
    for level, out in enumerate(outs):
        if out.shape[1] % channels:
            raise ValueError(
                f'level {level}: {out.shape[1]} channels are not a multiple '
                f'of {channels} values per prior.')
        flat.append(out.permute(0, 2, 3, 1).reshape(-1, channels))
    return torch.cat(flat)


def gfl_integral(dist_logits: Tensor, reg_max: int) -> Tensor:
    """Expected edge distances of GFL distributions (mmdet ``Integral``).

    Args:
        dist_logits (Tensor): ``(P, 4 * (reg_max + 1))`` logits.
        reg_max (int): largest bin value.

    Returns:
        Tensor: ``(P, 4)`` distances ``sum_i i * softmax(logits)_i`` in
        stride units.
    """
    prob = F.softmax(dist_logits.reshape(-1, reg_max + 1), dim=1)
    project = torch.linspace(0, reg_max, reg_max + 1, device=prob.device,
                             dtype=prob.dtype)
    return F.linear(prob, project[None]).reshape(-1, 4)


def decode_boxes(head: nn.Module, reg: Tensor, targets: DenseTargets,
                 bbox_coder: Optional[nn.Module] = None) -> Tensor:
    """Decode flat box regression of a dense head into xyxy pixel boxes.

    Args:
        head (nn.Module): the head that produced ``reg`` (GFL: its
            ``reg_max``; FCOS: its ``norm_on_bbox`` and ``training`` flags,
            which tell whether distances are in strides).
        reg (Tensor): ``(P, D)`` flat regression in the targets' order:
            deltas (anchor, ``D = encode_size``), distributions (GFL,
            ``D = 4 * (reg_max + 1)``) or ``(l, t, r, b)`` distances (FCOS).
        targets (DenseTargets): the priors (:func:`dense_head_targets`).
        bbox_coder (nn.Module, optional): delta coder of anchor heads;
            defaults to ``head.bbox_coder``.

    Returns:
        Tensor: ``(P, 4)`` boxes in input pixels (xyxy).
    """
    priors, strides = targets.flat_priors, targets.flat_strides
    if reg.shape[0] != priors.shape[0]:
        raise ValueError(
            f'{reg.shape[0]} box predictions for {priors.shape[0]} priors; '
            'the head producing them must use the same prior generator '
            '(anchors, strides, levels) as the head that was assigned.')
    if targets.kind == 'anchor':
        coder = bbox_coder if bbox_coder is not None else head.bbox_coder
        return get_box_tensor(coder.decode(priors, reg))
    if targets.kind == 'gfl':
        dist = gfl_integral(reg, head.reg_max) * strides[:, None]
        centers = (priors[:, :2] + priors[:, 2:]) / 2
        return distance2bbox(centers, dist)
    if head.norm_on_bbox and head.training:  # FCOS: stride units
        reg = reg * strides[:, None]
    return distance2bbox(priors, reg)


def prior_grid(head: nn.Module,
               level: int) -> Tuple[Tuple[float, float], float]:
    """Stride and prior-centre offset of one level of a dense head.

    Args:
        head (nn.Module): an mmdet dense head with a ``prior_generator``
            (``AnchorGenerator`` family or ``MlvlPointGenerator``).
        level (int): level index.

    Returns:
        tuple: ``((s_h, s_w), offset)``: prior ``(i, j)`` is centred at
        ``((j + offset) * s_w, (i + offset) * s_h)`` in input pixels.

    Raises:
        AttributeError: the head has no ``prior_generator``.
    """
    gen = getattr(head, 'prior_generator', None)
    if gen is None:
        raise AttributeError(
            f'{type(head).__name__} has no prior_generator; a dense head '
            '(RetinaHead, FCOSHead, GFLHead, ATSSHead, ...) is needed.')
    stride_w, stride_h = (float(v) for v in gen.strides[level])
    if hasattr(gen, 'base_anchors'):  # AnchorGenerator family
        centre_x = float(gen.base_anchors[level][0, 0::2].mean())
        offset = centre_x / stride_w
    else:  # MlvlPointGenerator
        offset = float(getattr(gen, 'offset', 0.5))
    return (stride_h, stride_w), offset


def aligned_giou_loss(pred: Tensor, target: Tensor,
                      eps: float = 1e-6) -> Tensor:
    """``1 - GIoU`` of aligned boxes; identical boxes cost exactly 0.

    Same as mmdet's ``giou_loss`` (``bbox_overlaps(..., mode='giou',
    eps=1e-6)``) except for identical *degenerate* boxes (zero width or
    height, e.g. the clamped distances of an untrained FCOS head), where the
    eps-guarded GIoU gives 0 and the loss would be 1.

    Args:
        pred (Tensor): ``(P, 4)`` boxes.
        target (Tensor): ``(P, 4)`` boxes.
        eps (float): GIoU eps. Defaults to 1e-6.

    Returns:
        Tensor: ``(P,)`` in ``[0, 2]``.
    """
    if pred.numel() == 0:
        return pred.new_zeros((0,)) + pred.sum() * 0
    giou = bbox_overlaps(pred, target, mode='giou', is_aligned=True, eps=eps)
    same = (pred == target).all(dim=1)
    return torch.where(same, torch.zeros_like(giou), 1 - giou)


def find_module(model: nn.Module, path: str, key: str) -> nn.Module:
    """The submodule of ``model`` named ``path`` (dotted), with a readable
    error naming the config ``key``.

    Args:
        model (nn.Module): e.g. the student or teacher detector.
        path (str): e.g. ``'bbox_head'``.
        key (str): config key that named ``path`` (for the message).

    Returns:
        nn.Module: the submodule.
    """
    try:
        return model.get_submodule(path)
    except AttributeError:
        top = sorted(name for name, _ in model.named_children())
        raise AttributeError(
            f'{key}="{path}" names no module of {type(model).__name__} '
            f'(its top-level modules: {top}).') from None
