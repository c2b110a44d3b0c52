# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Light-ML: task-wise Lightweight Mutual Lifting (CID + Light-ML, arXiv
2411.02861, Du et al.).

Only the paper's abstract is public: Light-ML "mutually harmonizes the
classification and localization branches by channel shuffling and
convolution", so that teacher supervision of one task also reaches the other
task's branch in back-propagation. This module is the proposed design of
``docs/methods.md`` section 3.
"""
from typing import Optional, Tuple

import torch
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmkd_dense.registry import MODELS

__all__ = ['LightML']


@MODELS.register_module()
class LightML(BaseModule):
    """Mix the classification and regression branch features of a head.

    With ``F_c, F_r`` of shape ``(N, C, *spatial)`` (``spatial`` is
    ``(H, W)`` for dense-head towers and empty for RoI-head fc features)::

        X = shuffle_2(cat(F_c, F_r))        # (N, 2C, ...): c0 r0 c1 r1 ...
        Y = Conv1x1(X, 2C -> 2C, groups=2)  # zero-initialised
        Y_c, Y_r = split(Y, C)
        F_c' = F_c + Y_c,  F_r' = F_r + Y_r

    ``shuffle_2`` is the ShuffleNet channel shuffle with 2 groups, so each
    convolution group sees half of the classification channels and half of
    the regression channels: ``Y_c`` depends on channels ``[0, C/2)`` of both
    branches and ``Y_r`` on channels ``[C/2, C)`` of both. The convolution
    weights and bias are zero at initialisation (also after
    ``init_weights()``), so the module starts as the identity and the head
    behaves exactly like the plain head until Light-ML learns something.

    Params: ``2C * C + 2C`` (131,584 for C = 256). MACs per spatial position:
    ``2C * C``. ``groups = G > 2`` (an option beyond the proposed design, for
    wide RoI-head features) splits the mixing conv further: group ``j`` reads
    ``C/G`` channels of each branch and the first ``G/2`` groups write
    ``Y_c``, the others ``Y_r``; params and MACs shrink to ``4C^2 / G``.

    Args:
        channels (int): C, the channels of each branch (must be even).
        zero_init (bool): zero-initialise the mixing conv (identity start).
            Defaults to True.
        groups (int): groups of the mixing conv; even, dividing ``C``.
            Defaults to 2 (the proposed design).
        init_cfg (dict, optional): ignored for the mixing conv when
            ``zero_init`` (kept for BaseModule compatibility).
    """

    def __init__(self,
                 channels: int,
                 zero_init: bool = True,
                 groups: int = 2,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if channels <= 0 or channels % 2:
            raise ValueError(
                f'LightML.channels must be a positive even number (the '
                f'branch feature channels), got {channels}.')
        if groups < 2 or groups % 2 or channels % (groups // 2):
            raise ValueError(
                f'LightML.groups must be even and groups/2 must divide '
                f'channels={channels}, got {groups}.')
        self.channels = channels
        self.zero_init = zero_init
        self.groups = groups
        self.mix = nn.Conv2d(
            2 * channels, 2 * channels, 1, groups=groups)
        if zero_init:
            self._zero()

    def _zero(self) -> None:
        nn.init.zeros_(self.mix.weight)
        nn.init.zeros_(self.mix.bias)

    def init_weights(self) -> None:
        """Zero the mixing conv again: a parent head's ``init_cfg`` (e.g.
        ``Normal(layer='Conv2d')``) is applied to every sub-conv before the
        children's ``init_weights`` run, and would otherwise break the
        identity start."""
        super().init_weights()
        if self.zero_init:
            self._zero()

    @staticmethod
    def channel_shuffle(x: Tensor, groups: int = 2) -> Tensor:
        """ShuffleNet channel shuffle.

        Args:
            x (Tensor): ``(N, G*C, *spatial)``.
            groups (int): G.

        Returns:
            Tensor: ``(N, G*C, *spatial)`` with channel ``g*C + c`` moved
            to ``c*G + g``.
        """
        n, total = x.shape[:2]
        rest = x.shape[2:]
        return x.reshape(n, groups, total // groups, *rest).transpose(
            1, 2).reshape(n, total, *rest)

    def forward(self, feat_cls: Tensor,
                feat_reg: Tensor) -> Tuple[Tensor, Tensor]:
        """Lift both branches.

        Args:
            feat_cls (Tensor): ``(N, C, H, W)`` or ``(N, C)`` classification
                branch feature.
            feat_reg (Tensor): same shape, regression branch feature.

        Returns:
            tuple[Tensor, Tensor]: ``F_c'`` and ``F_r'``, shapes as input.
        """
        if feat_cls.shape != feat_reg.shape:
            raise ValueError(
                'LightML needs equal classification and regression feature '
                f'shapes, got {tuple(feat_cls.shape)} and '
                f'{tuple(feat_reg.shape)}; both branches must have '
                f'{self.channels} channels.')
        if feat_cls.shape[1] != self.channels:
            raise ValueError(
                f'LightML was built with channels={self.channels} but the '
                f'branch features have {feat_cls.shape[1]}; set the '
                'light_ml channels to the head\'s feat_channels / '
                'fc_out_channels.')
        flat = feat_cls.dim() == 2
        if flat:  # RoI-head fc features (N, C) -> (N, C, 1, 1)
            feat_cls = feat_cls[:, :, None, None]
            feat_reg = feat_reg[:, :, None, None]
        mixed = self.mix(
            self.channel_shuffle(torch.cat([feat_cls, feat_reg], dim=1), 2))
        lift_cls, lift_reg = mixed.split(self.channels, dim=1)
        out_cls, out_reg = feat_cls + lift_cls, feat_reg + lift_reg
        if flat:
            out_cls, out_reg = out_cls.flatten(1), out_reg.flatten(1)
        return out_cls, out_reg

    def extra_repr(self) -> str:
        return (f'channels={self.channels}, groups={self.groups}, '
                f'zero_init={self.zero_init}')
