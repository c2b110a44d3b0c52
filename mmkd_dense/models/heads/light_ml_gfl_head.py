# Copyright (c) mmkd_dense contributors. All rights reserved.
"""GFL head with Light-ML between its towers and its output convs."""
from typing import Optional, Sequence

from mmcv.cnn import Scale
from mmdet.models.dense_heads import GFLHead
from torch import Tensor

from mmkd_dense.registry import MODELS
from ..connectors.light_ml import LightML

__all__ = ['LightMLGFLHead']


@MODELS.register_module()
class LightMLGFLHead(GFLHead):
    """``GFLHead`` whose cls/reg tower outputs pass through
    :class:`~mmkd_dense.models.connectors.LightML` before ``gfl_cls`` /
    ``gfl_reg`` (CID + Light-ML, arXiv 2411.02861, proposed design).

    Per level: ``F_c, F_r = towers(x)``; ``F_c', F_r' = LightML(F_c, F_r)``;
    ``cls_score = gfl_cls(F_c')``, ``bbox_pred = scale(gfl_reg(F_r'))``.
    One Light-ML is shared by all levels, like the towers. At initialisation
    the head is numerically identical to ``GFLHead``; Light-ML stays in the
    model at inference.

    Args:
        light_ml (dict, optional): extra ``LightML`` arguments (e.g.
            ``dict(zero_init=True)``); ``channels`` is ``feat_channels``.
        *args, **kwargs: ``GFLHead`` arguments.
    """

    def __init__(self, *args, light_ml: Optional[dict] = None,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.light_ml = LightML(self.feat_channels, **(light_ml or {}))

    def forward_single(self, x: Tensor, scale: Scale) -> Sequence[Tensor]:
        """Forward one level.

        Args:
            x (Tensor): ``(N, C_in, H, W)`` FPN feature.
            scale (Scale): learnable scale of the level.

        Returns:
            tuple[Tensor, Tensor]: ``cls_score (N, K, H, W)`` and
            ``bbox_pred (N, 4*(reg_max+1), H, W)``.
        """
        cls_feat = x
        reg_feat = x
        for cls_conv in self.cls_convs:
            cls_feat = cls_conv(cls_feat)
        for reg_conv in self.reg_convs:
            reg_feat = reg_conv(reg_feat)
        cls_feat, reg_feat = self.light_ml(cls_feat, reg_feat)
        cls_score = self.gfl_cls(cls_feat)
        bbox_pred = scale(self.gfl_reg(reg_feat)).float()
        return cls_score, bbox_pred
