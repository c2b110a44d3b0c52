# Copyright (c) mmkd_dense contributors. All rights reserved.
"""A feature-imitation loss weighted by DS2D2's DISW map (or any other
weight map)."""
from typing import Optional, Union

import torch
from torch import Tensor, nn

from mmkd_dense.registry import MODELS
from mmkd_dense.structures import DistillBatchContext
from ..utils.feature_align import resize_to
from ..utils.precision import float32_forward
from ..utils.weight_maps import BaseWeightMap, DISWMap, build_weight_map

__all__ = ['DISWFeatureLoss']

_DISTANCES = ('mse', 'l1', 'smooth_l1')
_REDUCTIONS = ('mean', 'sum', 'batch_sum')


@MODELS.register_module()
class DISWFeatureLoss(nn.Module):
    """``loss_weight * reduce(W * d(S, T))`` with ``W`` the DISW map (by
    default; any weight map through ``weight``).

    ``W`` ``(N, 1, H, W)`` (Density-Independent Scale Weight, DS2D2 /
    arXiv 2512.04413) is 1 everywhere plus ``1 / |b|`` on the ``|b|`` cells
    of every GT box ``b``, computed at the feature's own resolution (see
    :mod:`mmkd_dense.models.utils.disw`). Use it wherever a plain feature
    MSE/L1 is used, e.g. on one FPN level
    (``loss_forward_mappings``: ``preds_S``/``preds_T`` with ``data_idx``);
    put a connector on the student side for channel alignment, or set
    ``student_channels``/``teacher_channels`` for a built-in 1x1 conv.

    Args:
        loss_weight (float): overall weight. Defaults to 1.0.
        distance (str): elementwise ``d``: ``'mse'`` ``(S - T)^2``,
            ``'l1'`` ``|S - T|`` or ``'smooth_l1'`` (beta 1). Defaults to
            ``'mse'``.
        reduction (str): ``'mean'`` over all ``N*C*H*W`` elements,
            ``'sum'``, or ``'batch_sum'`` (sum / N). Defaults to ``'mean'``.
        student_channels (int, optional): with ``teacher_channels``, adds a
            1x1 conv on the student when they differ.
        teacher_channels (int, optional): see above.
        weight (dict | BaseWeightMap, optional): the weight map ``W``, e.g.
            ``dict(type='mmkd_dense.CIDWeightMap')`` (see
            :mod:`mmkd_dense.models.utils.weight_maps`). Defaults to None:
            ``DISWMap()`` (DS2D2's DISW).

    Mixed precision: runs in float32 (``align`` conv included) under
    autocast or with float16/bfloat16 inputs; the DISW increments
    ``1 / |b|`` would be rounded away next to the background 1 in half
    precision, and squared differences of large features overflow float16.
    """

    def __init__(self,
                 loss_weight: float = 1.0,
                 distance: str = 'mse',
                 reduction: str = 'mean',
                 student_channels: Optional[int] = None,
                 teacher_channels: Optional[int] = None,
                 weight: Union[dict, BaseWeightMap, None] = None) -> None:
        super().__init__()
        if distance not in _DISTANCES:
            raise ValueError(f'distance="{distance}" must be one of '
                             f'{_DISTANCES}.')
        if reduction not in _REDUCTIONS:
            raise ValueError(f'reduction="{reduction}" must be one of '
                             f'{_REDUCTIONS}.')
        self.loss_weight = loss_weight
        self.distance = distance
        self.reduction = reduction
        self.weight = build_weight_map(
            weight if weight is not None else DISWMap(),
            'DISWFeatureLoss.weight')
        self.align: Optional[nn.Module] = None
        if (student_channels is not None and teacher_channels is not None
                and student_channels != teacher_channels):
            self.align = nn.Conv2d(student_channels, teacher_channels, 1)

    @float32_forward
    def forward(self, preds_S: Tensor, preds_T: Tensor,
                batch_context: DistillBatchContext) -> Tensor:
        """Compute the weighted distance.

        Args:
            preds_S (Tensor): student feature ``(N, C, h, w)`` (resized to
                the teacher's size if it differs).
            preds_T (Tensor): teacher feature ``(N, C, H, W)``.
            batch_context (DistillBatchContext): GT boxes and input shape.

        Returns:
            Tensor: scalar loss.
        """
        if self.align is not None:
            preds_S = self.align(preds_S)
        preds_T = preds_T.detach()
        if preds_S.shape[1] != preds_T.shape[1]:
            raise ValueError(
                f'student has {preds_S.shape[1]} channels, teacher '
                f'{preds_T.shape[1]}; set student_channels/teacher_channels '
                'of DISWFeatureLoss or map the student through a connector.')
        preds_S = resize_to(preds_S, preds_T)
        diff = preds_S - preds_T  # float32 (see float32_forward)
        if self.distance == 'mse':
            dist = diff**2
        elif self.distance == 'l1':
            dist = diff.abs()
        else:
            absd = diff.abs()
            dist = torch.where(absd < 1, 0.5 * diff**2, absd - 0.5)
        weight = self.weight(batch_context, preds_T.shape[-2:],
                             preds_T.device)  # (N, 1, H, W)
        weighted = dist * weight
        if self.reduction == 'mean':
            loss = weighted.mean()
        elif self.reduction == 'sum':
            loss = weighted.sum()
        else:
            loss = weighted.sum() / preds_T.shape[0]
        return self.loss_weight * loss
