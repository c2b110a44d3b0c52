# Copyright (c) mmkd_dense contributors. All rights reserved.
"""FGD: Focal and Global Knowledge Distillation for Detectors (CVPR 2022).

Paper: https://arxiv.org/abs/2111.11837, reference code: yzd-v/FGD.
"""
from typing import Optional, Union

from torch import Tensor, nn

from mmkd_dense.registry import MODELS
from mmkd_dense.structures import DistillBatchContext
from ..utils import (AREA_MODES, GlobalContextBlock, channel_attention,
                     float32_forward, resize_to, spatial_attention)
from ..utils.renamed_args import renamed_args
from ..utils.weight_maps import BaseWeightMap, FGDScaleMask, build_weight_map

__all__ = ['FGDLoss']


@MODELS.register_module()
@renamed_args(temp='temperature')
class FGDLoss(nn.Module):
    """FGD loss on one FPN level.

    ``L = alpha*L_fg + beta*L_bg + gamma*L_att + lambda*L_global`` with
    (FGD Eqs. 5-9, ``S`` the aligned student, ``T`` the teacher, N images)

    - ``L_fg = sum(M_fg * a_s^T * a_c^T * (T - S)^2) / N``
    - ``L_bg = sum(M_bg * a_s^T * a_c^T * (T - S)^2) / N``
    - ``L_att = (sum|a_c^S - a_c^T| + sum|a_s^S - a_s^T|) / N``
    - ``L_global = sum((GC_S(S) - GC_T(T))^2) / N``

    ``M_fg = max over boxes of 1 / (h_b * w_b)`` with the box size counted
    as the reference code does by default (``area_mode='reference'``: a box
    touching the right/bottom border also counts the cell row/column just
    past the map, the unclipped ``ceil(x2') - floor(x1') + 1``);
    ``area_mode='clipped'`` counts only the cells on the map. Any other
    weight map can replace ``M_fg`` through ``fg_weight``, e.g.
    ``fg_weight=dict(type='mmkd_dense.CIDWeightMap', norm='instance')``;
    ``M_bg = 1[M_fg = 0] / sum 1[M_fg = 0]`` per image whatever the map
    (:meth:`~mmkd_dense.models.utils.BaseWeightMap.fg_bg`).

    Deviation from the reference code: boxes are mapped to the feature map
    through the padded batch input shape (the frame the feature is computed
    from) rather than each image's unpadded ``img_shape``; they coincide when
    there is no padding.

    Mixed precision: the whole loss (``align`` conv and GcBlocks included)
    runs in float32 under autocast or with float16/bfloat16 inputs (sums
    over ``C*H*W`` values overflow float16) and returns a float32 loss.

    Args:
        student_channels (int): C of the student feature.
        teacher_channels (int): C of the teacher feature; a 1x1 ``align``
            conv maps the student to it when they differ.
        temperature (float): attention temperature tau (``temp`` in FGD's
            code). Defaults to 0.5.
        alpha_fgd (float): foreground weight. Defaults to 1e-3.
        beta_fgd (float): background weight. Defaults to 5e-4.
        gamma_fgd (float): attention weight. Defaults to 1e-3.
        lambda_fgd (float): global weight. Defaults to 5e-6.
        with_global (bool): add the GcBlock global term. Defaults to True.
        area_mode (str, optional): ``'reference'`` (the FGD code's
            box-size count, the default) or ``'clipped'``; see
            :data:`~mmkd_dense.models.utils.AREA_MODES`. Shorthand for
            ``fg_weight=dict(type='mmkd_dense.FGDScaleMask',
            area_mode=...)``; not allowed together with ``fg_weight``.
        fg_weight (dict | BaseWeightMap, optional): the weight map used as
            ``M_fg`` (see :mod:`mmkd_dense.models.utils.weight_maps`).
            Defaults to None: FGD's scale mask
            ``FGDScaleMask(area_mode)``.
    """

    def __init__(self,
                 student_channels: int,
                 teacher_channels: int,
                 temperature: float = 0.5,
                 alpha_fgd: float = 1e-3,
                 beta_fgd: float = 5e-4,
                 gamma_fgd: float = 1e-3,
                 lambda_fgd: float = 5e-6,
                 with_global: bool = True,
                 area_mode: Optional[str] = None,
                 fg_weight: Union[dict, BaseWeightMap, None] = None) -> None:
        super().__init__()
        if area_mode is not None and area_mode not in AREA_MODES:
            raise ValueError(f'FGDLoss.area_mode must be one of {AREA_MODES}'
                             f', got "{area_mode}".')
        if area_mode is not None and fg_weight is not None:
            raise ValueError(
                f'FGDLoss got both area_mode="{area_mode}" and fg_weight='
                f'{fg_weight!r}; area_mode only applies to the default FGD '
                "mask: use fg_weight=dict(type='mmkd_dense.FGDScaleMask', "
                f"area_mode='{area_mode}') or drop area_mode.")
        if fg_weight is None:
            fg_weight = FGDScaleMask(area_mode or 'reference')
        self.fg_weight = build_weight_map(fg_weight, 'FGDLoss.fg_weight')
        #: the box-size count of the FGD mask (None with another map)
        self.area_mode = getattr(self.fg_weight, 'area_mode', None)
        self.temperature = temperature
        self.alpha_fgd = alpha_fgd
        self.beta_fgd = beta_fgd
        self.gamma_fgd = gamma_fgd
        self.lambda_fgd = lambda_fgd
        self.teacher_channels = teacher_channels
        self.align: Optional[nn.Module] = None
        if student_channels != teacher_channels:
            self.align = nn.Conv2d(student_channels, teacher_channels, 1)
        self.with_global = with_global
        if with_global:
            self.context_student = GlobalContextBlock(teacher_channels)
            self.context_teacher = GlobalContextBlock(teacher_channels)

    @float32_forward
    def forward(self, preds_S: Tensor, preds_T: Tensor,
                batch_context: DistillBatchContext) -> Tensor:
        """Compute the FGD loss of one level.

        Args:
            preds_S (Tensor): student feature ``(N, C_s, h, w)``.
            preds_T (Tensor): teacher feature ``(N, C_t, H, W)``.
            batch_context (DistillBatchContext): GT boxes and input shape.

        Returns:
            Tensor: scalar float32 loss.
        """
        preds_T = preds_T.detach()
        if self.align is not None:
            preds_S = self.align(preds_S)
        if preds_S.shape[1] != preds_T.shape[1]:
            raise ValueError(
                f'student has {preds_S.shape[1]} channels, teacher '
                f'{preds_T.shape[1]}; set student_channels/teacher_channels '
                'of FGDLoss to the real channel numbers.')
        preds_S = resize_to(preds_S, preds_T)
        n = preds_T.shape[0]
        fg, bg = self.fg_weight.fg_bg(batch_context, preds_T.shape[-2:],
                                      preds_T.device)  # (N, 1, H, W) each

        s_att_t = spatial_attention(preds_T, self.temperature)  # (N, H, W)
        c_att_t = channel_attention(preds_T, self.temperature)  # (N, C)
        weight = s_att_t[:, None] * c_att_t[:, :, None, None]  # (N,C,H,W)
        sq_diff = weight * (preds_T - preds_S)**2
        loss_fg = (sq_diff * fg).sum() / n
        loss_bg = (sq_diff * bg).sum() / n

        s_att_s = spatial_attention(preds_S, self.temperature)
        c_att_s = channel_attention(preds_S, self.temperature)
        loss_att = ((c_att_s - c_att_t).abs().sum() +
                    (s_att_s - s_att_t).abs().sum()) / n

        loss = (self.alpha_fgd * loss_fg + self.beta_fgd * loss_bg +
                self.gamma_fgd * loss_att)
        if self.with_global:
            loss_global = ((self.context_student(preds_S) -
                            self.context_teacher(preds_T))**2).sum() / n
            loss = loss + self.lambda_fgd * loss_global
        return loss
