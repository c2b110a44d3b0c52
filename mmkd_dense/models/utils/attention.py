# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Teacher attention maps used by FGD and LSFI."""
import torch.nn.functional as F
from torch import Tensor

__all__ = ['spatial_attention', 'channel_attention']


def spatial_attention(feat: Tensor, temperature: float,
                      pool_size: int = 1) -> Tensor:
    """``a_s = H*W*softmax_hw(AvgPool_k(mean_c |F|) / T)`` (FGD Eq. 1).

    Args:
        feat (Tensor): ``(N, C, H, W)``.
        temperature (float): softmax temperature ``T`` (tau).
        pool_size (int): odd k of the stride-1 average pooling of the
            channel-mean map (1 = FGD).

    Returns:
        Tensor: ``(N, H, W)``, mean 1 over each image.
    """
    n, _, h, w = feat.shape
    fmap = feat.abs().mean(dim=1, keepdim=True)
    if pool_size > 1:
        fmap = F.avg_pool2d(fmap, pool_size, stride=1,
                            padding=pool_size // 2,
                            count_include_pad=False)
    att = F.softmax((fmap / temperature).reshape(n, -1), dim=1)
    return (h * w * att).reshape(n, h, w)


def channel_attention(feat: Tensor, temperature: float) -> Tensor:
    """``a_c = C*softmax_c(mean_hw |F| / T)`` (FGD Eq. 2).

    Args:
        feat (Tensor): ``(N, C, H, W)``.
        temperature (float): softmax temperature ``T`` (tau).

    Returns:
        Tensor: ``(N, C)``, mean 1 over each image.
    """
    c = feat.shape[1]
    return c * F.softmax(feat.abs().mean(dim=(2, 3)) / temperature, dim=1)
