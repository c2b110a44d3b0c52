# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Global context block of FGD's global distillation (GcNet style)."""
import torch
from torch import Tensor, nn

__all__ = ['GlobalContextBlock']


class GlobalContextBlock(nn.Module):
    """``F + MLP(sum_j softmax(W_k F)_j F_j)`` (FGD Eq. 8, GcBlock).

    The last conv is zero-initialised, so the block starts as identity.

    Args:
        channels (int): C of the input.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        hidden = max(channels // 2, 1)
        self.conv_mask = nn.Conv2d(channels, 1, kernel_size=1)
        self.channel_add = nn.Sequential(
            nn.Conv2d(channels, hidden, kernel_size=1),
            nn.LayerNorm([hidden, 1, 1]), nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, kernel_size=1))
        nn.init.kaiming_normal_(self.conv_mask.weight, mode='fan_in',
                                nonlinearity='relu')
        nn.init.zeros_(self.conv_mask.bias)
        nn.init.zeros_(self.channel_add[-1].weight)
        nn.init.zeros_(self.channel_add[-1].bias)

    def forward(self, x: Tensor) -> Tensor:
        """Args: x ``(N, C, H, W)``. Returns: ``(N, C, H, W)``."""
        n, c, h, w = x.shape
        weights = torch.softmax(self.conv_mask(x).reshape(n, 1, h * w), -1)
        context = torch.bmm(x.reshape(n, c, h * w), weights.transpose(1, 2))
        return x + self.channel_add(context.reshape(n, c, 1, 1))
