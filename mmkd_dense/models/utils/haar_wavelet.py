# Copyright (c) mmkd_dense contributors. All rights reserved.
"""One-level 2-D Haar wavelet transform as a fixed stride-2 depthwise conv.

Used by DS2D2 (Gao et al., TGRS 2025, arXiv 2512.04413): the explicit stream
distils the low band and the three detail bands of every FPN level, the
implicit stream feeds the high-frequency map :func:`high_frequency` to the
high-frequency amplifier.

Convention (identical to ``pywt.dwt2(x, 'haar', mode='zero')`` and to
``pytorch_wavelets.DWTForward(J=1, wave='haar', mode='zero')`` up to the
order of the detail bands): for each 2x2 block ``[[a, b], [c, d]]``

- ``LL = (a + b + c + d) / 2``
- ``band 0 = (a + b - c - d) / 2``  (pywt ``cH``: detail along H)
- ``band 1 = (a - b + c - d) / 2``  (pywt ``cV``: detail along W)
- ``band 2 = (a - b - c + d) / 2``  (pywt ``cD``: diagonal detail)

The transform is orthonormal. Odd sizes are zero-padded at the end (bottom /
right), so ``H2 = ceil(H / 2)``, ``W2 = ceil(W / 2)``.
"""
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from .precision import float32_forward

__all__ = ['haar_kernels', 'haar_dwt2d', 'high_frequency', 'pad_to_even']

# rows: LL, band 0, band 1, band 2; each a 2x2 filter [[a, b], [c, d]].
_HAAR = ((1., 1., 1., 1.), (1., 1., -1., -1.), (1., -1., 1., -1.),
         (1., -1., -1., 1.))


def haar_kernels(dtype: torch.dtype = torch.float32,
                 device: torch.device = torch.device('cpu')) -> Tensor:
    """The four orthonormal Haar analysis filters.

    Returns:
        Tensor: ``(4, 1, 2, 2)``: LL, band 0, band 1, band 2 (see module
        docstring), each ``0.5 * (+-1)``.
    """
    return torch.tensor(_HAAR, dtype=dtype, device=device).view(4, 1, 2,
                                                                2) * 0.5


def pad_to_even(x: Tensor) -> Tensor:
    """Zero-pad the last row / column of ``x`` ``(N, C, H, W)`` when H / W
    is odd (``mode='zero'`` of pywt / pytorch_wavelets for Haar)."""
    pad_h, pad_w = x.shape[-2] % 2, x.shape[-1] % 2
    if pad_h or pad_w:
        x = F.pad(x, (0, pad_w, 0, pad_h))
    return x


def haar_dwt2d(x: Tensor) -> Tuple[Tensor, Tensor]:
    """One level of the 2-D Haar DWT of every channel.

    Computed as one depthwise convolution (``groups=C``, stride 2) with the
    four fixed filters of :func:`haar_kernels` per channel.

    Args:
        x (Tensor): ``(N, C, H, W)``.

    Returns:
        tuple[Tensor, Tensor]: ``LL`` ``(N, C, H2, W2)`` and the detail bands
        ``(N, C, 3, H2, W2)`` with ``H2 = ceil(H/2)``, ``W2 = ceil(W/2)``.
    """
    if x.dim() != 4:
        raise ValueError(f'haar_dwt2d expects (N, C, H, W), got shape '
                         f'{tuple(x.shape)}.')
    n, c = x.shape[:2]
    x = pad_to_even(x)
    weight = haar_kernels(x.dtype, x.device).repeat(c, 1, 1, 1)  # (4C,1,2,2)
    out = F.conv2d(x, weight, stride=2, groups=c)  # (N, 4C, H2, W2)
    out = out.view(n, c, 4, out.shape[-2], out.shape[-1])
    return out[:, :, 0], out[:, :, 1:]


@float32_forward
def high_frequency(feat: Tensor) -> Tensor:
    """DS2D2 high-frequency map ``HF(F)``: the sum of the three Haar detail
    bands, bilinearly upsampled back to the input size.

    ``LH + HL + HH = (3a - b - c - d) / 2 = 2 * (a - mean(a, b, c, d))`` on
    every 2x2 block, so the sum is computed directly with that single
    depthwise filter (same values as summing the bands of
    :func:`haar_dwt2d`, one conv instead of three outputs), then
    ``F.interpolate(..., size=(H, W), mode='bilinear',
    align_corners=False)``.

    Computed in float32 (a float16/bfloat16 input is cast up, autocast is
    off inside): the map is a difference of neighbouring values, which
    half precision resolves only to ~1e-3 of their magnitude.

    Args:
        feat (Tensor): ``(N, C, H, W)``.

    Returns:
        Tensor: ``(N, C, H, W)`` (float32 for a half-precision input).
    """
    if feat.dim() != 4:
        raise ValueError(f'high_frequency expects (N, C, H, W), got shape '
                         f'{tuple(feat.shape)}.')
    c = feat.shape[1]
    size = feat.shape[-2:]
    kernel = haar_kernels(feat.dtype, feat.device)[1:].sum(0, keepdim=True)
    hf = F.conv2d(pad_to_even(feat), kernel.repeat(c, 1, 1, 1), stride=2,
                  groups=c)  # (N, C, H2, W2)
    return F.interpolate(hf, size=size, mode='bilinear', align_corners=False)
