# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Faster R-CNN RoI box head with Light-ML on its branch features."""
from typing import Optional, Tuple

from mmdet.models.roi_heads.bbox_heads import ConvFCBBoxHead
from torch import Tensor

from mmkd_dense.registry import MODELS
from ..connectors.light_ml import LightML

__all__ = ['LightMLConvFCBBoxHead']


@MODELS.register_module()
class LightMLConvFCBBoxHead(ConvFCBBoxHead):
    """``ConvFCBBoxHead`` with :class:`~mmkd_dense.models.connectors.LightML`
    applied to the classification and regression branch features just
    before ``fc_cls`` / ``fc_reg``.

    With the stock Faster R-CNN layout (``num_shared_fcs=2``, no
    branch-specific layers, i.e. ``Shared2FCBBoxHead``) both branch features
    are the same ``(R, fc_out_channels)`` vector; Light-ML then adds a
    task-specific residual (each task reads a different half of the shared
    channels), which is the only decoupling such a head has. With separate
    branch convs/fcs (``num_cls_fcs``/``num_reg_fcs`` > 0) it mixes the two
    branches as in the dense heads. Identical to the plain head at
    initialisation; kept at inference. Params ``2C^2 + 2C`` with
    ``C = fc_out_channels`` (2.1 M for 1024).

    Args:
        light_ml (dict, optional): extra ``LightML`` arguments; ``channels``
            is the branch feature width.
        *args, **kwargs: ``ConvFCBBoxHead`` arguments. For the stock
            Faster R-CNN head use ``num_shared_convs=0, num_shared_fcs=2,
            num_cls_convs=0, num_cls_fcs=0, num_reg_convs=0, num_reg_fcs=0``
            (the defaults here).
    """

    def __init__(self,
                 *args,
                 num_shared_fcs: int = 2,
                 fc_out_channels: int = 1024,
                 light_ml: Optional[dict] = None,
                 **kwargs) -> None:
        super().__init__(
            *args,
            num_shared_fcs=num_shared_fcs,
            fc_out_channels=fc_out_channels,
            **kwargs)
        if self.cls_last_dim != self.reg_last_dim:
            raise ValueError(
                'LightMLConvFCBBoxHead needs equal classification and '
                f'regression branch widths, got {self.cls_last_dim} and '
                f'{self.reg_last_dim}; use the same number of branch '
                'convs/fcs on both branches.')
        self.light_ml = LightML(self.cls_last_dim, **(light_ml or {}))

    def forward(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        """Forward RoI features.

        Args:
            x (Tensor): ``(R, C_in, S, S)`` RoI features.

        Returns:
            tuple[Tensor, Tensor]: ``cls_score (R, K+1)`` and
            ``bbox_pred (R, 4K)`` (``(R, 4)`` if class-agnostic).
        """
        if self.num_shared_convs > 0:
            for conv in self.shared_convs:
                x = conv(x)
        if self.num_shared_fcs > 0:
            if self.with_avg_pool:
                x = self.avg_pool(x)
            x = x.flatten(1)
            for fc in self.shared_fcs:
                x = self.relu(fc(x))
        x_cls = x
        x_reg = x
        for conv in self.cls_convs:
            x_cls = conv(x_cls)
        if x_cls.dim() > 2:
            if self.with_avg_pool:
                x_cls = self.avg_pool(x_cls)
            x_cls = x_cls.flatten(1)
        for fc in self.cls_fcs:
            x_cls = self.relu(fc(x_cls))
        for conv in self.reg_convs:
            x_reg = conv(x_reg)
        if x_reg.dim() > 2:
            if self.with_avg_pool:
                x_reg = self.avg_pool(x_reg)
            x_reg = x_reg.flatten(1)
        for fc in self.reg_fcs:
            x_reg = self.relu(fc(x_reg))
        x_cls, x_reg = self.light_ml(x_cls, x_reg)
        cls_score = self.fc_cls(x_cls) if self.with_cls else None
        bbox_pred = self.fc_reg(x_reg) if self.with_reg else None
        return cls_score, bbox_pred
