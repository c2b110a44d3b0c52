# Copyright (c) mmkd_dense contributors. All rights reserved.
"""DS2D2 explicit stream: DISW-weighted low/high-band feature distillation.

Paper: Gao, Zhao, Yuan, Li, "Dual-Stream Spectral Decoupling Distillation for
Remote Sensing Object Detection", IEEE TGRS 63 (2025), arXiv 2512.04413;
reference code PolarAid/DS2D2.
"""
from typing import Optional, Sequence, Tuple, Union

import torch
from torch import Tensor, nn

from mmkd_dense.registry import MODELS
from mmkd_dense.structures import DistillBatchContext
from ..utils.haar_wavelet import haar_dwt2d
from ..utils.precision import float32_forward
from ..utils.renamed_args import renamed_args
from ..utils.weight_maps import BaseWeightMap, DISWMap, build_weight_map

__all__ = ['DS2D2ExplicitLoss']

Features = Union[Tensor, Sequence[Tensor]]


def _as_levels(feats: Features) -> Tuple[Tensor, ...]:
    return (feats, ) if isinstance(feats, Tensor) else tuple(feats)


@MODELS.register_module()
@renamed_args(loss_weight_ll='ll_weight', loss_weight_hf='hf_weight')
class DS2D2ExplicitLoss(nn.Module):
    """Explicit stream of DS2D2 over all FPN levels.

    For each level ``l`` with student ``S_l`` and teacher ``T_l``
    ``(N, C, H, W)``:

    - ``S^_l = A(S_l)``, ``A`` one 1x1 conv (no bias) shared by all levels
      and owned by this loss (trained with the student, unused at test);
    - ``LL, HB = HaarDWT(.)``: ``(N, C, H2, W2)`` and ``(N, C, 3, H2, W2)``,
      ``H2 = ceil(H/2)``;
    - ``W`` the DISW map ``(N, 1, H2, W2)`` of the batch's GT boxes (or
      the map named by ``weight``);
    - ``L_LL = mean_{N,C,H2,W2}(W * (LL(S^) - LL(T))^2)``,
      ``L_HF = mean_{N,C,3,H2,W2}(W * (HB(S^) - HB(T))^2)``.

    Returns ``ll_weight * sum_l L_LL + hf_weight * sum_l L_HF``
    (levels summed, not averaged, as in the reference).

    Args:
        student_channels (int): C of the student FPN. Defaults to 256.
        teacher_channels (int): C of the teacher FPN. Defaults to 256.
        ll_weight (float): ``w_LL``. Defaults to 1e-5 (RetinaNet DIOR).
        hf_weight (float): ``w_HF``. Defaults to 1e-5.
        weight_type (str): ``'disw'`` (default) or ``'none'`` (uniform
            weight 1; ablation).
        weight (dict | BaseWeightMap, optional): the weight map ``W`` at
            the band resolution, e.g.
            ``dict(type='mmkd_dense.DISWMap')`` (the default with
            ``weight_type='disw'``); see
            :mod:`mmkd_dense.models.utils.weight_maps`. Not allowed with
            ``weight_type='none'``.

    Mixed precision: the loss (adapter and DWT included) runs in float32
    under autocast or with float16/bfloat16 inputs: the DISW increments
    (``1 / #cells``) would be rounded away next to the background 1, and
    squared band differences of large features overflow float16.
    """

    def __init__(self,
                 student_channels: int = 256,
                 teacher_channels: int = 256,
                 ll_weight: float = 1e-5,
                 hf_weight: float = 1e-5,
                 weight_type: str = 'disw',
                 weight: Union[dict, BaseWeightMap, None] = None) -> None:
        super().__init__()
        if weight_type not in ('disw', 'none'):
            raise ValueError(f'weight_type="{weight_type}" must be "disw" or '
                             '"none".')
        if weight_type == 'none' and weight is not None:
            raise ValueError(
                "DS2D2ExplicitLoss got weight_type='none' (uniform weight) "
                f'and weight={weight!r}; drop one of them.')
        if weight_type == 'disw' and weight is None:
            weight = DISWMap()
        #: the weight map (None: uniform weight 1)
        self.weight: Optional[BaseWeightMap] = build_weight_map(
            weight, 'DS2D2ExplicitLoss.weight')
        self.adapter = nn.Conv2d(
            student_channels, teacher_channels, kernel_size=1, bias=False)
        self.ll_weight = ll_weight
        self.hf_weight = hf_weight
        self.weight_type = weight_type

    @float32_forward
    def level_losses(self, preds_S: Features, preds_T: Features,
                     batch_context: DistillBatchContext
                     ) -> Tuple[Tensor, Tensor]:
        """Unweighted ``(sum_l L_LL, sum_l L_HF)``."""
        feats_s, feats_t = _as_levels(preds_S), _as_levels(preds_T)
        if len(feats_s) != len(feats_t):
            raise ValueError(f'student has {len(feats_s)} FPN levels, teacher '
                             f'{len(feats_t)}.')
        for feat_s, feat_t in zip(feats_s, feats_t):
            if feat_s.shape[-2:] != feat_t.shape[-2:]:
                raise ValueError(
                    f'student level {tuple(feat_s.shape)} and teacher level '
                    f'{tuple(feat_t.shape)} differ in size; DS2D2 needs FPNs '
                    'with the same strides.')
        weights = [None] * len(feats_s)
        if self.weight is not None:  # all levels' maps in one go
            weights = self.weight.levels(
                batch_context, [((f.shape[-2] + 1) // 2,
                                 (f.shape[-1] + 1) // 2) for f in feats_s],
                feats_s[0].device)
        loss_ll = feats_s[0].new_zeros((), dtype=torch.float32)
        loss_hf = feats_s[0].new_zeros((), dtype=torch.float32)
        for feat_s, feat_t, weight in zip(feats_s, feats_t, weights):
            adapted = self.adapter(feat_s)
            ll_s, hb_s = haar_dwt2d(adapted)
            with torch.no_grad():
                ll_t, hb_t = haar_dwt2d(feat_t.detach())
            # float32 even under AMP (float32_forward): the DISW increments
            # (1 / #cells) must not be rounded away next to the background 1
            sq_ll = (ll_s - ll_t)**2  # (N, C, H2, W2)
            sq_hb = (hb_s - hb_t)**2  # (N, C, 3, H2, W2)
            if weight is not None:
                sq_ll = sq_ll * weight  # W: (N, 1, H2, W2), float32
                sq_hb = sq_hb * weight.unsqueeze(2)
            loss_ll = loss_ll + sq_ll.mean()
            loss_hf = loss_hf + sq_hb.mean()
        return loss_ll, loss_hf

    @float32_forward
    def forward(self, preds_S: Features, preds_T: Features,
                batch_context: DistillBatchContext) -> Tensor:
        """Compute the explicit-stream loss.

        Args:
            preds_S (Tensor | Sequence[Tensor]): student FPN levels
                ``(N, C_s, H_l, W_l)`` (a whole neck output or one level).
            preds_T (Tensor | Sequence[Tensor]): teacher levels, same sizes.
            batch_context (DistillBatchContext): GT boxes and input shape.

        Returns:
            Tensor: scalar ``w_LL * sum L_LL + w_HF * sum L_HF``.
        """
        loss_ll, loss_hf = self.level_losses(preds_S, preds_T, batch_context)
        return self.ll_weight * loss_ll + self.hf_weight * loss_hf
