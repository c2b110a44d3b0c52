# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Temperature KL divergence between logits, for distribution KD.

mmdet's ``KnowledgeDistillationKLDivLoss`` (used by LD) averages the KL
over the distribution bins; CrossKD's copy adds ``class_reduction='sum'``
(its GFL config sums over the 17 bins). This loss has both.
"""
from typing import Optional

import torch.nn.functional as F
from mmdet.models.losses.utils import weight_reduce_loss
from torch import Tensor, nn

from mmkd_dense.registry import MODELS
from ..utils.precision import float32_forward
from ..utils.renamed_args import renamed_args

__all__ = ['KDKLDivLoss', 'kd_kl_div']

_REDUCTIONS = ('none', 'mean', 'sum')
CLASS_REDUCTIONS = ('mean', 'sum')


def kd_kl_div(pred: Tensor, soft_label: Tensor, temperature: float,
              class_reduction: str = 'mean') -> Tensor:
    """``T^2 * KL(softmax(t / T) || softmax(s / T))`` per row.

    Args:
        pred (Tensor): ``(P, B)`` student logits.
        soft_label (Tensor): ``(P, B)`` teacher logits (detached here).
        temperature (float): ``T``.
        class_reduction (str): ``'mean'`` (mmdet) or ``'sum'`` (CrossKD)
            over the ``B`` entries of a row.

    Returns:
        Tensor: ``(P,)``, >= 0, 0 where the rows are equal.
    """
    if pred.shape != soft_label.shape:
        raise ValueError(f'KL: pred {tuple(pred.shape)} and soft_label '
                         f'{tuple(soft_label.shape)} differ in shape.')
    target = F.softmax(soft_label.detach() / temperature, dim=1)
    kl = F.kl_div(
        F.log_softmax(pred / temperature, dim=1), target, reduction='none')
    kl = kl.mean(1) if class_reduction == 'mean' else kl.sum(1)
    return kl * (temperature * temperature)


@MODELS.register_module()
@renamed_args(T='temperature')
class KDKLDivLoss(nn.Module):
    """KL distillation loss on logit rows (LD, CrossKD-GFL edge
    distributions).

    ``L = loss_weight * sum_p w_p * T^2 * R_b KL_b(softmax(t_p / T) ||
    softmax(s_p / T)) / avg_factor``, ``R`` = mean (``class_reduction=
    'mean'``, as mmdet's ``KnowledgeDistillationKLDivLoss``) or sum over the
    ``B`` entries of a row. Reduction and ``avg_factor`` follow mmdet's
    ``weight_reduce_loss``. Computed in float32 (also under autocast).

    Args:
        temperature (float): ``T`` (>= 1); ``T`` in mmdet's and CrossKD's
            configs. Defaults to 10 (LD).
        class_reduction (str): ``'mean'`` or ``'sum'``. Defaults to
            ``'mean'``.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``. Defaults to
            ``'mean'``.
        loss_weight (float): Defaults to 1.0.
    """

    def __init__(self,
                 temperature: float = 10.0,
                 class_reduction: str = 'mean',
                 reduction: str = 'mean',
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        if temperature < 1:
            raise ValueError(
                f'KDKLDivLoss.temperature must be >= 1, got {temperature}.')
        if class_reduction not in CLASS_REDUCTIONS:
            raise ValueError(
                f'KDKLDivLoss.class_reduction must be one of '
                f'{CLASS_REDUCTIONS}, got "{class_reduction}".')
        if reduction not in _REDUCTIONS:
            raise ValueError(f'KDKLDivLoss.reduction must be one of '
                             f'{_REDUCTIONS}, got "{reduction}".')
        self.temperature = temperature
        self.class_reduction = class_reduction
        self.reduction = reduction
        self.loss_weight = loss_weight

    @float32_forward
    def forward(self,
                pred: Tensor,
                soft_label: Tensor,
                weight: Optional[Tensor] = None,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None) -> Tensor:
        """Compute the loss.

        Args:
            pred (Tensor): ``(P, B)`` student logits.
            soft_label (Tensor): ``(P, B)`` teacher logits.
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
        loss = kd_kl_div(pred, soft_label, self.temperature,
                         self.class_reduction)
        if weight is not None:
            weight = weight.reshape(-1).to(loss.dtype)
        return self.loss_weight * weight_reduce_loss(loss, weight, reduction,
                                                     avg_factor)
