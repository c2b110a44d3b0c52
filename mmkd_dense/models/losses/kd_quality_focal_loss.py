# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Knowledge-distillation quality focal loss (KD-QFL).

CrossKD (Wang et al., "CrossKD: Cross-Head Knowledge Distillation for Object
Detection", CVPR 2024), ``KDQualityFocalLoss`` of github jbwang1997/CrossKD:
the quality focal loss of GFL with the teacher's sigmoid scores as soft
targets.
"""
from typing import Optional

import torch.nn.functional as F
from mmdet.models.losses.utils import weight_reduce_loss
from torch import Tensor, nn

from mmkd_dense.registry import MODELS
from ..utils.precision import float32_forward

__all__ = ['KDQualityFocalLoss', 'kd_quality_focal_loss']

_REDUCTIONS = ('none', 'mean', 'sum')


def kd_quality_focal_loss(pred: Tensor,
                          target: Tensor,
                          weight: Optional[Tensor] = None,
                          beta: float = 1.0,
                          reduction: str = 'mean',
                          avg_factor: Optional[float] = None) -> Tensor:
    """``sum(w * BCE(s, sigmoid(t)) * |sigmoid(s) - sigmoid(t)|^beta) /
    avg_factor``.

    Args:
        pred (Tensor): ``(P, K)`` student (or cross-head) logits.
        target (Tensor): ``(P, K)`` teacher logits; detached here.
        weight (Tensor, optional): ``(P,)`` per-prior weight (e.g. the
            student head's label weights).
        beta (float): focusing exponent. Defaults to 1.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'`` (mmdet's
            ``weight_reduce_loss``; ``'mean'`` with ``avg_factor`` is
            ``sum / (avg_factor + eps)``, eps = float32 eps).
        avg_factor (float, optional): normaliser.

    Returns:
        Tensor: scalar, or ``(P, K)`` with ``reduction='none'``; exactly 0
        where ``pred == target``.
    """
    if pred.shape != target.shape:
        raise ValueError(f'KD-QFL: pred {tuple(pred.shape)} and target '
                         f'{tuple(target.shape)} differ in shape.')
    soft = target.detach().sigmoid()
    loss = F.binary_cross_entropy_with_logits(pred, soft, reduction='none')
    loss = loss * (pred.sigmoid() - soft).abs().pow(beta)
    if weight is not None:
        weight = weight.reshape(-1, 1).to(loss.dtype)
    return weight_reduce_loss(loss, weight, reduction, avg_factor)


@MODELS.register_module()
class KDQualityFocalLoss(nn.Module):
    """KD quality focal loss on sigmoid class scores (CrossKD).

    ``L = loss_weight * sum_{p,k} w_p * BCE(s_pk, q_pk) * |sigmoid(s_pk) -
    q_pk|^beta / avg_factor`` with ``q = sigmoid(t)`` the teacher's scores
    (no gradient). Computed in float32 (also under autocast).

    Args:
        beta (float): focusing exponent. Defaults to 1.0.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``. Defaults to
            ``'mean'``.
        loss_weight (float): Defaults to 1.0.
    """

    def __init__(self,
                 beta: float = 1.0,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise ValueError(f'KDQualityFocalLoss.reduction must be one of '
                             f'{_REDUCTIONS}, got "{reduction}".')
        self.beta = beta
        self.reduction = reduction
        self.loss_weight = loss_weight

    @float32_forward
    def forward(self,
                pred: Tensor,
                target: Tensor,
                weight: Optional[Tensor] = None,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None) -> Tensor:
        """Compute the loss.

        Args:
            pred (Tensor): ``(P, K)`` student logits.
            target (Tensor): ``(P, K)`` teacher logits.
            weight (Tensor, optional): ``(P,)`` weights.
            avg_factor (float, optional): normaliser.
            reduction_override (str, optional): overrides ``reduction``.

        Returns:
            Tensor: the loss.
        """
        reduction = reduction_override or self.reduction
        if reduction not in _REDUCTIONS:
            raise ValueError(f'reduction_override must be one of '
                             f'{_REDUCTIONS}, got "{reduction}".')
        return self.loss_weight * kd_quality_focal_loss(
            pred, target, weight, self.beta, reduction, avg_factor)
