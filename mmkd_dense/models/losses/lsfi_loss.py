# Copyright (c) mmkd_dense contributors. All rights reserved.
"""LSFI: Lightweight Semantic-guided Feature Imitation.

Feature-imitation half of "feature-aligned distillation" (Li, Di, Liu, Ye,
Computer Vision and Image Understanding 262:104519, 2025). The paper's text
and code were not available to us; this is the design of
``docs/methods.md`` Sec. 1 (FGD's focal distillation with multi-scale
teacher spatial attention and without FGD's global-context block).
"""
from typing import Optional, Sequence, Tuple, Union

import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from mmkd_dense.registry import MODELS
from mmkd_dense.structures import DistillBatchContext
from ..utils import (AREA_MODES, channel_attention, float32_forward,
                     resize_to, spatial_attention)
from ..utils.renamed_args import renamed_args
from ..utils.weight_maps import BaseWeightMap, FGDScaleMask, build_weight_map

__all__ = ['LSFILoss', 'LSFIStudentFunction']


@MODELS.register_module()
@renamed_args(temp='temperature')
class LSFILoss(nn.Module):
    """LSFI loss on one FPN level.

    With ``T`` the (detached) teacher feature and ``S`` the student feature
    already mapped to the teacher's channels by a connector
    (:class:`~mmkd_dense.models.connectors.FeatureAdapter`), both
    ``(N, C, H, W)``:

    - ``g = mean_c |T|``                                       ``(N, 1, H, W)``
    - ``a_s(T) = mean_{k in K} H*W*softmax_hw(AvgPool_k(g) / tau)``
      (stride 1, padding k//2; ``K = {1}`` is FGD's spatial attention)
                                                                  ``(N, H, W)``
    - ``a_c(T) = C*softmax_c(mean_hw |T| / tau)``                   ``(N, C)``
    - ``M_fg[h, w] = max_{boxes covering (h, w)} 1 / (h_b * w_b)``,
      ``M_bg = 1[no box] / sum 1[no box]`` per image (FGD masks; any
      weight map through ``fg_weight``, ``M_bg = 1[M_fg = 0] / sum
      1[M_fg = 0]``)                                            ``(N, H, W)``
    - ``L_fi = (1/N) sum (alpha*M_fg + beta*M_bg) * a_s(T) * a_c(T)
      * (T - S)^2``
    - ``L_att = (gamma/N) (||a_c(T) - a_c(S)||_1 + ||a_s(T) - a_s(S)||_1)``
    - ``L = loss_weight * (L_fi + L_att)``

    With ``pool_sizes=(1,)`` (or ``multi_scale=False``) the value equals
    :class:`~mmkd_dense.models.losses.FGDLoss` with ``with_global=False``
    and the same ``temperature/alpha/beta/gamma/area_mode`` (LSFI keeps
    ``area_mode='clipped'`` by default, FGD defaults to the FGD code's
    ``'reference'`` count; they differ only for boxes touching the
    right/bottom border).

    Mixed precision: the loss (and :class:`LSFIStudentFunction`) runs in
    float32 under autocast or with float16/bfloat16 inputs (the per-pixel
    channel sum overflows float16) and returns a float32 loss.

    Default weights (FGD's, per detector family):

    ======================  =====  ======  ======  ======
    detector                tau    alpha   beta    gamma
    ======================  =====  ======  ======  ======
    one-stage (RetinaNet,   0.5    1e-3    5e-4    5e-4
    GFL; the defaults)
    two-stage (Faster       0.5    5e-5    2.5e-5  5e-5
    R-CNN)
    FCOS                    0.8    1.6e-3  8e-4    8e-4
    ======================  =====  ======  ======  ======

    Args:
        channels (int, optional): expected channel number C of both inputs
            (the teacher's). When set, a mismatch raises a ValueError.
            Defaults to None (only student vs teacher equality is checked).
        temperature (float): attention temperature tau. Defaults to 0.5.
        alpha (float): foreground weight. Defaults to 1e-3.
        beta (float): background weight. Defaults to 5e-4.
        gamma (float): attention-transfer weight. Defaults to 5e-4.
        pool_sizes (Sequence[int]): odd average-pooling sizes K of the
            multi-scale spatial attention. Defaults to (1, 3, 5).
        multi_scale (bool): if False, use ``K = {1}`` whatever
            ``pool_sizes`` says (exact FGD spatial attention).
            Defaults to True.
        loss_weight (float): overall multiplier. Defaults to 1.0.
        area_mode (str): box size in ``M_fg``: ``'clipped'`` (cells on the
            map, default) or ``'reference'`` (FGD code's unclipped count);
            see :data:`~mmkd_dense.models.utils.AREA_MODES`. Shorthand for
            ``fg_weight=dict(type='mmkd_dense.FGDScaleMask',
            area_mode=...)``; not allowed together with ``fg_weight``.
        fg_weight (dict | BaseWeightMap, optional): the weight map used as
            ``M_fg``, e.g. ``dict(type='mmkd_dense.CIDWeightMap')`` (see
            :mod:`mmkd_dense.models.utils.weight_maps`). Defaults to None:
            ``FGDScaleMask(area_mode)``.
    """

    def __init__(self,
                 channels: Optional[int] = None,
                 temperature: float = 0.5,
                 alpha: float = 1e-3,
                 beta: float = 5e-4,
                 gamma: float = 5e-4,
                 pool_sizes: Sequence[int] = (1, 3, 5),
                 multi_scale: bool = True,
                 loss_weight: float = 1.0,
                 area_mode: Optional[str] = None,
                 fg_weight: Union[dict, BaseWeightMap, None] = None) -> None:
        super().__init__()
        if area_mode is not None and area_mode not in AREA_MODES:
            raise ValueError(f'LSFILoss.area_mode must be one of '
                             f'{AREA_MODES}, got "{area_mode}".')
        if area_mode is not None and fg_weight is not None:
            raise ValueError(
                f'LSFILoss got both area_mode="{area_mode}" and fg_weight='
                f'{fg_weight!r}; area_mode only applies to the default FGD '
                "mask: use fg_weight=dict(type='mmkd_dense.FGDScaleMask', "
                f"area_mode='{area_mode}') or drop area_mode.")
        if fg_weight is None:
            fg_weight = FGDScaleMask(area_mode or 'clipped')
        self.fg_weight = build_weight_map(fg_weight, 'LSFILoss.fg_weight')
        #: the box-size count of the FGD mask (None with another map)
        self.area_mode = getattr(self.fg_weight, 'area_mode', None)
        if temperature <= 0:
            raise ValueError(
                f'LSFILoss.temperature must be > 0, got {temperature}.')
        pool_sizes = tuple(int(k) for k in pool_sizes) if multi_scale \
            else (1, )
        if not pool_sizes or any(k < 1 or k % 2 == 0 for k in pool_sizes):
            raise ValueError(
                'LSFILoss.pool_sizes must be a non-empty list of odd '
                f'positive ints (e.g. (1, 3, 5)), got {pool_sizes}.')
        self.channels = channels
        self.temperature = temperature
        self.alpha = alpha
        self.beta = beta
        self.gamma = gamma
        self.pool_sizes: Tuple[int, ...] = pool_sizes
        self.multi_scale = multi_scale
        self.loss_weight = loss_weight

    def attentions(self, feat: Tensor) -> Tuple[Tensor, Tensor]:
        """Multi-scale spatial and channel attention of one feature.

        Args:
            feat (Tensor): ``(N, C, H, W)``.

        Returns:
            tuple[Tensor, Tensor]: ``a_s`` ``(N, H, W)`` (mean over the pool
            sizes of ``H*W*softmax_hw(AvgPool_k(mean_c|F|)/tau)``) and
            ``a_c`` ``(N, C)`` (``C*softmax_c(mean_hw|F|/tau)``).
        """
        magnitude = feat.abs()
        # g = mean_c |F|, (N, 1, H, W); spatial_attention(g) = FGD Eq. 1 on
        # the pooled g since mean_c |g| = g for a non-negative 1-channel map.
        g = magnitude.mean(dim=1, keepdim=True)
        a_s = spatial_attention(g, self.temperature, self.pool_sizes[0])
        for k in self.pool_sizes[1:]:
            a_s = a_s + spatial_attention(g, self.temperature, k)
        a_s = a_s / len(self.pool_sizes)
        # channel_attention of the (N, C, 1, 1) map mean_hw |F| is FGD Eq. 2
        # (same values, one pass over F fewer).
        a_c = channel_attention(
            magnitude.mean(dim=(2, 3), keepdim=True), self.temperature)
        return a_s, a_c

    @float32_forward
    def forward(self, preds_S: Tensor, preds_T: Tensor,
                batch_context: DistillBatchContext) -> Tensor:
        """Compute ``L_fi + L_att`` of one level.

        Args:
            preds_S (Tensor): aligned student feature ``(N, C, h, w)``;
                resized bilinearly to ``(H, W)`` if the sizes differ.
            preds_T (Tensor): teacher feature ``(N, C, H, W)`` (detached
                here).
            batch_context (DistillBatchContext): GT boxes and the padded
                batch input shape (for ``M_fg``/``M_bg``).

        Returns:
            Tensor: scalar loss.
        """
        preds_T = preds_T.detach()
        c_s, c_t = preds_S.shape[1], preds_T.shape[1]
        if self.channels is not None and c_t != self.channels:
            raise ValueError(
                f'LSFILoss got a teacher feature with {c_t} channels but '
                f'channels={self.channels}; set the loss\'s `channels` to '
                'the teacher FPN width.')
        if c_s != c_t:
            raise ValueError(
                f'LSFILoss got a student feature with {c_s} channels and a '
                f'teacher feature with {c_t}. Map the student through a '
                "connector, e.g. connectors=dict(adapter_fpn0=dict(type="
                f"'mmkd_dense.FeatureAdapter', in_channels={c_s}, "
                f'out_channels={c_t})) and loss_forward_mappings.<loss>.'
                "preds_S.connector='adapter_fpn0'.")
        preds_S = resize_to(preds_S, preds_T)
        n = preds_T.shape[0]
        fg, bg = self.fg_weight.fg_bg(batch_context, preds_T.shape[-2:],
                                      preds_T.device)
        fg, bg = fg[:, 0], bg[:, 0]  # (N, H, W) each

        with torch.no_grad():
            a_s_t, a_c_t = self.attentions(preds_T)
            # (alpha*M_fg + beta*M_bg) * a_s(T), (N, H, W)
            pixel_weight = (self.alpha * fg + self.beta * bg) * a_s_t
        # sum (alpha M_fg + beta M_bg) a_s(T) a_c(T) (T - S)^2, and the
        # student's mean_c |S| (N, 1, H, W) and mean_hw |S| (N, C, 1, 1)
        weighted_sq, g_s, m_s = LSFIStudentFunction.apply(
            preds_S, preds_T, pixel_weight, a_c_t)
        loss_fi = weighted_sq / n

        # student attentions from its mean-|S| maps (see ``attentions``)
        a_s_s = spatial_attention(g_s, self.temperature, self.pool_sizes[0])
        for k in self.pool_sizes[1:]:
            a_s_s = a_s_s + spatial_attention(g_s, self.temperature, k)
        a_s_s = a_s_s / len(self.pool_sizes)
        a_c_s = channel_attention(m_s, self.temperature)
        loss_att = self.gamma * ((a_c_t - a_c_s).abs().sum() +
                                 (a_s_t - a_s_s).abs().sum()) / n
        return self.loss_weight * (loss_fi + loss_att)


class LSFIStudentFunction(torch.autograd.Function):
    """Full-resolution student terms of LSFI with a hand-written backward.

    Given ``S, T`` ``(N, C, H, W)``, ``w = (alpha M_fg + beta M_bg) a_s(T)``
    ``(N, H, W)`` and ``a = a_c(T)`` ``(N, C)`` (constants), returns

    - ``E = sum_{n,c,h,w} w[n,h,w] a[n,c] (T - S)^2`` (scalar),
    - ``g = mean_c |S|`` ``(N, 1, H, W)`` and ``m = mean_hw |S|``
      ``(N, C, 1, 1)`` (inputs of the student's attentions),

    and in backward ``dL/dS = -2 dL/dE w a (T - S)
    + sign(S) (dL/dg / C + dL/dm / (H W))``. Nothing but the inputs is kept
    for backward and at most two full-size temporaries exist at a time
    (plain autograd keeps about four full-size tensors per level), which
    halves the loss's peak memory at COCO sizes.
    """

    @staticmethod
    def forward(ctx, preds_S: Tensor, preds_T: Tensor, pixel_weight: Tensor,
                channel_weight: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """Args: ``S``, ``T`` ``(N, C, H, W)``, ``w`` ``(N, H, W)``, ``a``
        ``(N, C)``. Returns ``E``, ``g``, ``m``."""
        magnitude = preds_S.abs()
        g = magnitude.mean(dim=1, keepdim=True)
        m = magnitude.mean(dim=(2, 3), keepdim=True)
        del magnitude
        sq = torch.sub(preds_T, preds_S).square_()
        # sum_c a[n,c] (T - S)^2 -> (N, H, W)
        per_pixel = torch.einsum('nchw,nc->nhw', sq, channel_weight)
        del sq
        weighted = (per_pixel * pixel_weight).sum()
        ctx.save_for_backward(preds_S, preds_T, pixel_weight, channel_weight)
        return weighted, g, m

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_e: Tensor, grad_g: Tensor, grad_m: Tensor):
        """Gradient w.r.t. ``S`` only."""
        preds_S, preds_T, pixel_weight, channel_weight = ctx.saved_tensors
        _, c, h, w = preds_S.shape
        # -2 dE w a (T - S)
        grad = torch.sub(preds_T, preds_S)
        grad.mul_(channel_weight[:, :, None, None]).mul_(
            pixel_weight[:, None] * (-2 * grad_e))
        # + sign(S) (dg / C + dm / (H W)), both broadcast over S
        sign = torch.sign(preds_S)
        grad.addcmul_(sign, grad_g / c).addcmul_(sign, grad_m / (h * w))
        return grad, None, None, None
