# Copyright (c) mmkd_dense contributors. All rights reserved.
"""RetinaNet head with Light-ML between its towers and its output convs."""
from typing import Optional, Tuple

from mmdet.models.dense_heads import RetinaHead
from torch import Tensor

from mmkd_dense.registry import MODELS
from ..connectors.light_ml import LightML

__all__ = ['LightMLRetinaHead']


@MODELS.register_module()
class LightMLRetinaHead(RetinaHead):
    """``RetinaHead`` with :class:`~mmkd_dense.models.connectors.LightML`
    applied to the tower outputs before ``retina_cls`` / ``retina_reg``.

    Identical to ``RetinaHead`` at initialisation; kept at inference.

    Args:
        light_ml (dict, optional): extra ``LightML`` arguments; ``channels``
            is ``feat_channels``.
        *args, **kwargs: ``RetinaHead`` arguments.
    """

    def __init__(self, *args, light_ml: Optional[dict] = None,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.light_ml = LightML(self.feat_channels, **(light_ml or {}))

    def forward_single(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        """Forward one level.

        Args:
            x (Tensor): ``(N, C_in, H, W)`` FPN feature.

        Returns:
            tuple[Tensor, Tensor]: ``cls_score (N, A*K, H, W)`` and
            ``bbox_pred (N, A*4, H, W)``.
        """
        cls_feat = x
        reg_feat = x
        for cls_conv in self.cls_convs:
            cls_feat = cls_conv(cls_feat)
        for reg_conv in self.reg_convs:
            reg_feat = reg_conv(reg_feat)
        cls_feat, reg_feat = self.light_ml(cls_feat, reg_feat)
        return self.retina_cls(cls_feat), self.retina_reg(reg_feat)
