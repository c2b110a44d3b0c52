# Copyright (c) mmkd_dense contributors. All rights reserved.
"""FCOS head with Light-ML between its towers and its output convs."""
from typing import Optional, Tuple

from mmcv.cnn import Scale
from mmdet.models.dense_heads import FCOSHead
from torch import Tensor

from mmkd_dense.registry import MODELS
from ..connectors.light_ml import LightML

__all__ = ['LightMLFCOSHead']


@MODELS.register_module()
class LightMLFCOSHead(FCOSHead):
    """``FCOSHead`` with :class:`~mmkd_dense.models.connectors.LightML`
    applied to the tower outputs before ``conv_cls`` / ``conv_reg`` (and
    ``conv_centerness``, which reads the lifted feature of its branch).

    Identical to ``FCOSHead`` at initialisation; kept at inference.

    Args:
        light_ml (dict, optional): extra ``LightML`` arguments; ``channels``
            is ``feat_channels``.
        *args, **kwargs: ``FCOSHead`` arguments.
    """

    def __init__(self, *args, light_ml: Optional[dict] = None,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.light_ml = LightML(self.feat_channels, **(light_ml or {}))

    def forward_single(self, x: Tensor, scale: Scale,
                       stride: int) -> Tuple[Tensor, Tensor, Tensor]:
        """Forward one level (same post-processing as ``FCOSHead``).

        Args:
            x (Tensor): ``(N, C_in, H, W)`` FPN feature.
            scale (Scale): learnable scale of the level.
            stride (int): level stride (boxes are multiplied by it at test
                time when ``norm_on_bbox``).

        Returns:
            tuple[Tensor, Tensor, Tensor]: ``cls_score (N, K, H, W)``,
            ``bbox_pred (N, 4, H, W)``, ``centerness (N, 1, H, W)``.
        """
        cls_feat = x
        reg_feat = x
        for cls_layer in self.cls_convs:
            cls_feat = cls_layer(cls_feat)
        for reg_layer in self.reg_convs:
            reg_feat = reg_layer(reg_feat)
        cls_feat, reg_feat = self.light_ml(cls_feat, reg_feat)
        cls_score = self.conv_cls(cls_feat)
        bbox_pred = self.conv_reg(reg_feat)
        centerness = self.conv_centerness(
            reg_feat if self.centerness_on_reg else cls_feat)
        bbox_pred = scale(bbox_pred).float()
        if self.norm_on_bbox:
            bbox_pred = bbox_pred.clamp(min=0)
            if not self.training:
                bbox_pred *= stride
        else:
            bbox_pred = bbox_pred.exp()
        return cls_score, bbox_pred, centerness
