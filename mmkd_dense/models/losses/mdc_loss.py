# Copyright (c) mmkd_dense contributors. All rights reserved.
"""MDC-KD: Multi-metric Distribution Consistency distillation.

Consistency half of "feature-aligned distillation" (Li, Di, Liu, Ye,
Computer Vision and Image Understanding 262:104519, 2025): a global
statistical-correlation term (Pearson correlation of per-channel
standardised maps, identical to mmrazor's ``PKDLoss``) plus a local
structural-similarity term (SSIM over a Gaussian window). The paper's text
and code were not available to us; this is the design of
``docs/methods.md`` Sec. 1.
"""
from typing import List, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from mmkd_dense.registry import MODELS
from ..utils import float32_forward, resize_to
from ..utils.renamed_args import renamed_args

__all__ = ['MDCLoss', 'MDCLossFunction', 'gaussian_blur']


@MODELS.register_module()
@renamed_args(lambda_g='global_weight', lambda_l='local_weight')
class MDCLoss(nn.Module):
    """MDC-KD loss on one FPN level.

    With ``S`` the (aligned) student and ``T`` the detached teacher feature,
    both ``(N, C, H, W)`` (``S`` bilinearly resized to ``T``'s size if they
    differ):

    - ``z(X) = (X - mu_c) / (sigma_c + eps)``, per-channel mean and
      (unbiased) std over ``(N, H, W)``
    - ``L_pcc = 1/2 * mean((z(S) - z(T))^2)`` = mean over channels of
      ``1 - r_c`` (Pearson r); equals mmrazor ``PKDLoss(loss_weight=1)``
    - per channel, with a ``k x k`` Gaussian window ``w`` (sigma 1.5, zero
      "same" padding) on ``x = z(S)``, ``y = z(T)``:
      ``mu_x = w*x``, ``sigma_x^2 = w*x^2 - mu_x^2``,
      ``sigma_xy = w*(xy) - mu_x mu_y`` and
      ``SSIM = ((2 mu_x mu_y + C1)(2 sigma_xy + C2)) /
      ((mu_x^2 + mu_y^2 + C1)(sigma_x^2 + sigma_y^2 + C2))``
    - ``L_ssim = mean((1 - SSIM) / 2)`` (in ``[0, 1]``)
    - ``L = global_weight * L_pcc + local_weight * L_ssim``

    Both terms are invariant to a positive per-channel affine change of
    either input, and ``L = 0`` (SSIM = 1 everywhere) when ``S == T``.

    The computation is fused in :class:`MDCLossFunction` (analytic
    gradient, channel blocks, nothing but the inputs kept for backward);
    :meth:`standardize` and :meth:`ssim_map` are the plain-autograd
    definitions it is tested against.

    Mixed precision: :meth:`terms` and :meth:`forward` run in float32 under
    autocast or with float16/bfloat16 inputs (the SSIM gradient divides by
    ``B1*B2``, about 9e-8 on a flat region, whose inverse overflows
    float16) and return float32 losses.

    Args:
        global_weight (float): ``lambda_g``, weight of the global Pearson
            term; 0 disables it.
            Defaults to 6.0.
        local_weight (float): ``lambda_l``, weight of the local SSIM term;
            0 disables it.
            Defaults to 6.0.
        window_size (int): odd Gaussian window size. Defaults to 5 (an
            11x11 window is mostly padding on P6/P7).
        sigma (float): Gaussian window std. Defaults to 1.5.
        c1 (float): SSIM stabiliser C1. Defaults to 1e-4.
        c2 (float): SSIM stabiliser C2. Defaults to 9e-4.
        eps (float): added to the std of the standardisation.
            Defaults to 1e-6.
        ssim_on_standardized (bool): compute SSIM on ``z(S), z(T)`` (True,
            scale-free, the spec) or on the raw maps. Defaults to True.
        block_elements (int): on CPU, channels are processed in blocks of
            about this many elements per map so that the elementwise passes
            stay in cache (~5x faster); 0 = one block. GPUs always use one
            block. Defaults to 2**18.
    """

    def __init__(self,
                 global_weight: float = 6.0,
                 local_weight: float = 6.0,
                 window_size: int = 5,
                 sigma: float = 1.5,
                 c1: float = 1e-4,
                 c2: float = 9e-4,
                 eps: float = 1e-6,
                 ssim_on_standardized: bool = True,
                 block_elements: int = 2**18) -> None:
        super().__init__()
        if window_size < 1 or window_size % 2 == 0:
            raise ValueError('MDCLoss.window_size must be an odd positive '
                             f'int (e.g. 5), got {window_size}.')
        if sigma <= 0:
            raise ValueError(f'MDCLoss.sigma must be > 0, got {sigma}.')
        if global_weight < 0 or local_weight < 0:
            raise ValueError(
                'MDCLoss.global_weight and local_weight must be >= 0, '
                f'got {global_weight} and {local_weight}.')
        self.global_weight = global_weight
        self.local_weight = local_weight
        self.window_size = window_size
        self.sigma = sigma
        self.c1 = c1
        self.c2 = c2
        self.eps = eps
        self.ssim_on_standardized = ssim_on_standardized
        self.block_elements = block_elements
        coords = torch.arange(window_size, dtype=torch.float32) - \
            (window_size - 1) / 2
        gauss = torch.exp(-coords**2 / (2 * sigma**2))
        # 1-D factor of the separable, sum-1 Gaussian window, (k,)
        self.register_buffer('gauss_1d', gauss / gauss.sum(),
                             persistent=False)

    @property
    def window(self) -> Tensor:
        """The 2-D ``(k, k)`` Gaussian window (sums to 1)."""
        return torch.outer(self.gauss_1d, self.gauss_1d)

    def standardize(self, feat: Tensor) -> Tensor:
        """``z(X) = (X - mu_c) / (sigma_c + eps)``, statistics over
        ``(N, H, W)`` of each channel (unbiased std, as ``PKDLoss``);
        plain autograd.

        Args:
            feat (Tensor): ``(N, C, H, W)``.

        Returns:
            Tensor: ``(N, C, H, W)``.
        """
        count = feat.shape[0] * feat.shape[2] * feat.shape[3]
        mean = feat.mean(dim=(0, 2, 3), keepdim=True)
        std = feat.std(dim=(0, 2, 3), keepdim=True,
                       correction=1 if count > 1 else 0)
        return (feat - mean) / (std + self.eps)

    def ssim_map(self, x: Tensor, y: Tensor) -> Tensor:
        """Per-channel SSIM map between ``x`` and ``y``; plain autograd.

        Args:
            x (Tensor): ``(N, C, H, W)``.
            y (Tensor): ``(N, C, H, W)``.

        Returns:
            Tensor: ``(N, C, H, W)`` SSIM values, 1 where ``x == y``.
        """
        gauss = self.gauss_1d.to(x.dtype)
        channels = x.shape[1]
        mu_x, mu_y, e_xx, e_yy, e_xy = gaussian_blur(
            torch.cat([x, y, x * x, y * y, x * y], dim=1),
            gauss).split(channels, dim=1)
        sigma_x2 = e_xx - mu_x * mu_x
        sigma_y2 = e_yy - mu_y * mu_y
        sigma_xy = e_xy - mu_x * mu_y
        numerator = (2 * mu_x * mu_y + self.c1) * (2 * sigma_xy + self.c2)
        denominator = (mu_x * mu_x + mu_y * mu_y + self.c1) * (
            sigma_x2 + sigma_y2 + self.c2)
        return numerator / denominator

    def _block_channels(self, feat: Tensor) -> int:
        """Channels per block for :class:`MDCLossFunction` (0 = all)."""
        if self.block_elements <= 0 or feat.device.type != 'cpu':
            return 0
        per_channel = feat.shape[0] * feat.shape[2] * feat.shape[3]
        return max(1, self.block_elements // per_channel)

    @float32_forward
    def terms(self, preds_S: Tensor,
              preds_T: Tensor) -> Tuple[Tensor, Tensor]:
        """The unweighted ``(L_pcc, L_ssim)`` of one level (a term whose
        lambda is 0 is not computed and returned as 0).

        Args:
            preds_S (Tensor): student ``(N, C, h, w)``.
            preds_T (Tensor): teacher ``(N, C, H, W)``.

        Returns:
            tuple[Tensor, Tensor]: two scalars.
        """
        preds_T = preds_T.detach()
        if preds_S.shape[:2] != preds_T.shape[:2]:
            raise ValueError(
                f'MDCLoss got student {tuple(preds_S.shape)} and teacher '
                f'{tuple(preds_T.shape)}: batch and channels must match. Map '
                "the student through a connector (type='mmkd_dense."
                f"FeatureAdapter', in_channels={preds_S.shape[1]}, "
                f'out_channels={preds_T.shape[1]}) with loss_forward_mappings.'
                '<loss>.preds_S.connector.')
        preds_S = resize_to(preds_S, preds_T)
        return MDCLossFunction.apply(preds_S, preds_T.to(preds_S.dtype),
                                     self.gauss_1d.to(preds_S.dtype),
                                     self.c1, self.c2, self.eps,
                                     self.global_weight > 0,
                                     self.local_weight > 0,
                                     self.ssim_on_standardized,
                                     self._block_channels(preds_S))

    @float32_forward
    def forward(self, preds_S: Tensor, preds_T: Tensor) -> Tensor:
        """``L = global_weight * L_pcc + local_weight * L_ssim`` of one level.

        Args:
            preds_S (Tensor): aligned student feature ``(N, C, h, w)``.
            preds_T (Tensor): teacher feature ``(N, C, H, W)``.

        Returns:
            Tensor: scalar loss.
        """
        loss_pcc, loss_ssim = self.terms(preds_S, preds_T)
        return self.global_weight * loss_pcc + self.local_weight * loss_ssim


def gaussian_blur(feat: Tensor, gauss_1d: Tensor) -> Tensor:
    """Filter every channel with the separable window
    ``outer(gauss_1d, gauss_1d)``, zero "same" padding.

    Two depthwise 1-D convolutions (``k x 1`` then ``1 x k``), exactly equal
    to the 2-D zero-padded depthwise convolution. On CPU the input is made
    channels-last first (mkldnn's depthwise kernels are faster there).

    Args:
        feat (Tensor): ``(B, C, H, W)``.
        gauss_1d (Tensor): ``(k,)`` odd-length 1-D window.

    Returns:
        Tensor: ``(B, C, H, W)``.
    """
    channels = feat.shape[1]
    pad = gauss_1d.numel() // 2
    if feat.device.type == 'cpu':
        feat = feat.contiguous(memory_format=torch.channels_last)
    kernel_h = gauss_1d.view(1, 1, -1, 1).expand(channels, 1, -1, 1)
    kernel_w = gauss_1d.view(1, 1, 1, -1).expand(channels, 1, 1, -1)
    out = F.conv2d(feat, kernel_h, padding=(pad, 0), groups=channels)
    return F.conv2d(out, kernel_w, padding=(0, pad), groups=channels)


def _standardize(feat: Tensor, eps: float) -> Tuple[Tensor, Tensor, int]:
    """``z = (X - mu_c) / (sigma_c + eps)`` without autograd.

    Returns:
        tuple: ``z`` ``(N, c, H, W)``, ``sigma_c`` ``(1, c, 1, 1)`` and the
        std's denominator ``n - correction``.
    """
    count = feat.shape[0] * feat.shape[2] * feat.shape[3]
    dof = count - 1 if count > 1 else count
    z = feat - feat.mean(dim=(0, 2, 3), keepdim=True)
    std = z.square().sum(dim=(0, 2, 3), keepdim=True).div_(dof).sqrt_()
    return z.div_(std + eps), std, dof


def _ssim_terms(x: Tensor, y: Tensor, gauss_1d: Tensor, c1: float,
                c2: float) -> Tuple[Tensor, ...]:
    """SSIM ingredients of one channel block, without autograd.

    Args:
        x (Tensor): ``(N, c, H, W)`` student block.
        y (Tensor): ``(N, c, H, W)`` teacher block.
        gauss_1d (Tensor): ``(k,)`` window factor.
        c1 (float): C1.
        c2 (float): C2.

    Returns:
        tuple[Tensor, ...]: ``mu_x, mu_y, A1, A2, B1, B2``, each
        ``(N, c, H, W)``; ``SSIM = A1 A2 / (B1 B2)``.
    """
    n = x.shape[0]
    stack = x.new_empty((5 * n, ) + tuple(x.shape[1:]))
    stack[:n] = x
    stack[n:2 * n] = y
    torch.mul(x, x, out=stack[2 * n:3 * n])
    torch.mul(y, y, out=stack[3 * n:4 * n])
    torch.mul(x, y, out=stack[4 * n:])
    # mu_x, mu_y, E_xx, E_yy, E_xy with one depthwise filtering
    mu_x, mu_y, e_xx, e_yy, e_xy = gaussian_blur(stack, gauss_1d).chunk(5)
    mu_xy = mu_x * mu_y
    a1 = mu_xy.mul(2).add_(c1)  # 2 mu_x mu_y + C1
    a2 = e_xy.sub_(mu_xy).mul_(2).add_(c2)  # 2 sigma_xy + C2
    mu_x2 = mu_x * mu_x
    mu_y2 = mu_y * mu_y
    b2 = e_xx.sub_(mu_x2).add_(e_yy.sub_(mu_y2)).add_(c2)  # s_x+s_y+C2
    b1 = mu_x2.add_(mu_y2).add_(c1)  # mu_x^2 + mu_y^2 + C1
    return mu_x, mu_y, a1, a2, b1, b2


def _ssim_grad(x: Tensor, y: Tensor, gauss_1d: Tensor, c1: float, c2: float,
               scale: Tensor) -> Tensor:
    """``scale * dSSIM_sum/dx`` for one block (see
    :class:`MDCLossFunction`)."""
    n = x.shape[0]
    mu_x, mu_y, a1, a2, b1, b2 = _ssim_terms(x, y, gauss_1d, c1, c2)
    inv_b1 = b1.reciprocal_()
    inv_b2 = b2.reciprocal_()
    inv_d = inv_b1 * inv_b2
    ssim = (a1 * a2).mul_(inv_d)
    grads = x.new_empty((3 * n, ) + tuple(x.shape[1:]))
    # g_mu = s (2 mu_y (A2 - A1) / (B1 B2) + 2 mu_x SSIM (1/B2 - 1/B1))
    g_mu = torch.sub(a2, a1, out=grads[:n]).mul_(mu_y).mul_(inv_d)
    g_mu.addcmul_(mu_x.mul_(ssim), inv_b1.neg_().add_(inv_b2))
    g_mu.mul_(2 * scale)
    # g_xx = -s SSIM / B2 ;  g_xy = 2 s A1 / (B1 B2)
    torch.mul(ssim, inv_b2, out=grads[n:2 * n]).mul_(-scale)
    torch.mul(a1, inv_d, out=grads[2 * n:]).mul_(2 * scale)
    blur_mu, blur_xx, blur_xy = gaussian_blur(grads, gauss_1d).chunk(3)
    # dL/dx = G(g_mu) + 2 x G(g_xx) + y G(g_xy)
    return blur_mu.addcmul_(blur_xx, x, value=2).addcmul_(blur_xy, y)


class MDCLossFunction(torch.autograd.Function):
    """Fused ``(L_pcc, L_ssim)`` of :class:`MDCLoss` with analytic backward.

    Standardisation is per channel, so channels are processed in blocks
    (on CPU each block's ~40 elementwise passes then stay in cache) and the
    backward pass recomputes each block's statistics: only the inputs are
    kept between the passes (plain autograd keeps ~20 full-size
    intermediates per level).

    Gradients (``M`` elements, ``G`` the Gaussian filter, self-adjoint for
    a symmetric kernel with zero padding):

    - Pearson: ``dL_pcc/dz_s = (z_s - z_t) / M``.
    - SSIM, with ``mu_x = Gx``, ``E_xx = G(x^2)``, ``E_xy = G(xy)``,
      ``A1 = 2 mu_x mu_y + C1``, ``A2 = 2 (E_xy - mu_x mu_y) + C2``,
      ``B1 = mu_x^2 + mu_y^2 + C1``,
      ``B2 = E_xx - mu_x^2 + E_yy - mu_y^2 + C2``:
      ``dSSIM/dmu_x = 2 mu_y (A2 - A1)/(B1 B2) + 2 mu_x SSIM (1/B2 - 1/B1)``,
      ``dSSIM/dE_xx = -SSIM/B2``, ``dSSIM/dE_xy = 2 A1/(B1 B2)``, and
      ``dL_ssim/dx = G(g_mu) + 2 x G(g_xx) + y G(g_xy)`` with
      ``g_* = -1/(2M) dSSIM/d*``.
    - Standardisation (per channel, ``n`` values, ``d = sigma + eps``,
      ``sigma^2 = sum (X - mu)^2 / dof``):
      ``dL/dX = (g - mean(g)) / d - z * sum(g z) / (dof * sigma)``.

    The teacher input gets no gradient. A constant channel
    (``sigma = 0``) gets the finite gradient ``(g - mean(g)) / eps``.

    Call as ``MDCLossFunction.apply(S, T, gauss_1d, c1, c2, eps, with_pcc,
    with_ssim, ssim_on_standardized, block_channels)``; returns
    ``(L_pcc, L_ssim)`` (a disabled term is 0).
    """

    @staticmethod
    def forward(ctx, preds_S: Tensor, preds_T: Tensor, gauss_1d: Tensor,
                c1: float, c2: float, eps: float, with_pcc: bool,
                with_ssim: bool, ssim_on_standardized: bool,
                block_channels: int) -> Tuple[Tensor, Tensor]:
        """Args: student and teacher ``(N, C, H, W)``, window factor
        ``(k,)``, constants and flags (see the class docstring)."""
        pcc_sum = preds_S.new_zeros((), dtype=torch.float64)
        ssim_sum = preds_S.new_zeros((), dtype=torch.float64)
        for blk in _channel_blocks(preds_S, block_channels):
            s_blk, t_blk = preds_S[:, blk], preds_T[:, blk]
            z_s, _, _ = _standardize(s_blk, eps)
            z_t, _, _ = _standardize(t_blk, eps)
            if with_ssim:
                x, y = (z_s, z_t) if ssim_on_standardized else (s_blk, t_blk)
                _, _, a1, a2, b1, b2 = _ssim_terms(x, y, gauss_1d, c1, c2)
                ssim_sum += a1.mul_(a2).div_(b1.mul_(b2)).sum(
                    dtype=torch.float64)
            if with_pcc:
                pcc_sum += z_s.sub_(z_t).square_().sum(dtype=torch.float64)
        numel = preds_S.numel()
        ctx.save_for_backward(preds_S, preds_T, gauss_1d)
        ctx.constants = (c1, c2, eps, with_pcc, with_ssim,
                         ssim_on_standardized, block_channels)
        loss_pcc = 0.5 * pcc_sum / numel
        loss_ssim = 0.5 - 0.5 * ssim_sum / numel if with_ssim else ssim_sum
        return loss_pcc.to(preds_S.dtype), loss_ssim.to(preds_S.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_pcc: Tensor, grad_ssim: Tensor):
        """Gradient w.r.t. the student only (see the class docstring)."""
        preds_S, preds_T, gauss_1d = ctx.saved_tensors
        (c1, c2, eps, with_pcc, with_ssim, ssim_on_standardized,
         block_channels) = ctx.constants
        numel = preds_S.numel()
        scale_ssim = grad_ssim * (-0.5 / numel)  # dL_ssim / dSSIM
        grad_s = torch.empty_like(preds_S)
        for blk in _channel_blocks(preds_S, block_channels):
            s_blk, t_blk = preds_S[:, blk], preds_T[:, blk]
            z_s, std, dof = _standardize(s_blk, eps)
            z_t, _, _ = _standardize(t_blk, eps)
            g_z = torch.zeros_like(z_s)
            if with_pcc:  # (z_s - z_t) / M
                g_z.add_(z_s - z_t, alpha=float(grad_pcc) / numel)
            if with_ssim and ssim_on_standardized:
                g_z.add_(_ssim_grad(z_s, z_t, gauss_1d, c1, c2, scale_ssim))
            # back through z = (X - mu) / (sigma + eps)
            coef = torch.where(std > 0, 1.0 / (dof * std.clamp(min=1e-30)),
                               torch.zeros_like(std))
            g_zz = (g_z * z_s).sum(dim=(0, 2, 3), keepdim=True).mul_(coef)
            g_s = g_z.sub_(g_z.mean(dim=(0, 2, 3), keepdim=True)).div_(
                std + eps).sub_(z_s.mul_(g_zz))
            if with_ssim and not ssim_on_standardized:
                g_s.add_(_ssim_grad(s_blk, t_blk, gauss_1d, c1, c2,
                                    scale_ssim))
            grad_s[:, blk] = g_s
        return (grad_s, ) + (None, ) * 9


def _channel_blocks(feat: Tensor, block_channels: int) -> List[slice]:
    """Channel slices of at most ``block_channels`` channels (all if 0)."""
    channels = feat.shape[1]
    step = channels if block_channels <= 0 else block_channels
    return [
        slice(c, min(c + step, channels))
        for c in range(0, channels, step)
    ]
