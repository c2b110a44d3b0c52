# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Per-level 1x1 student feature adapter (the "feature-aligned" part of
LSFI + MDC-KD, docs/methods.md Sec. 1 step 1)."""
import warnings
from typing import Dict, Optional

import torch
from mmrazor.models.architectures.connectors.base_connector import \
    BaseConnector
from torch import Tensor, nn

from mmkd_dense.registry import MODELS

__all__ = ['FeatureAdapter']

_INIT_MODES = ('kaiming', 'identity')


@MODELS.register_module()
class FeatureAdapter(BaseConnector):
    """``S_hat = Conv1x1(S)``: maps one student FPN level to the teacher's
    channel number, ``(N, C_s, H, W) -> (N, C_t, H, W)``.

    Use one adapter per level as a distiller connector::

        connectors={f'adapter_fpn{i}': dict(type='mmkd_dense.FeatureAdapter',
                                            in_channels=256,
                                            out_channels=256)
                    for i in range(5)},
        loss_forward_mappings={f'loss_lsfi_fpn{i}': dict(
            preds_S=dict(from_student=True, recorder='fpn', data_idx=i,
                         connector=f'adapter_fpn{i}'), ...)}

    Connectors are children of the distiller, not of the student: they are
    trained with the student, saved in the distillation checkpoint under
    ``distiller.connectors.*`` and dropped when the student is exported
    (``tools/model_converters/extract_student.py`` keeps only the
    ``architecture.*`` weights, like mmrazor's
    ``convert_kd_ckpt_to_student.py``); the deployed detector never runs
    them.

    The adapter keeps no state between calls: when several losses map the
    same connector on the same record (LSFI and MDC-KD reading one level),
    :class:`~mmkd_dense.models.distillers.GTAwareDistiller` runs it once
    per step and hands every loss that one output.

    Args:
        in_channels (int): student channels ``C_s``.
        out_channels (int): teacher channels ``C_t``.
        bias (bool): learnable bias. Defaults to True.
        init_mode (str): ``'kaiming'`` (Kaiming-normal weights, fan-out,
            zero bias; the spec) or ``'identity'`` (identity weights, zero
            bias; requires ``in_channels == out_channels``).
            Defaults to ``'kaiming'``.
        reuse_output (bool, optional): deprecated, ignored (the distiller
            now computes each connector output once per step); kept so
            that older configs still build. Defaults to None.
        init_cfg (dict, optional): mmengine init config; applied by
            ``init_weights`` after (and instead of) ``init_mode``.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 bias: bool = True,
                 init_mode: str = 'kaiming',
                 reuse_output: Optional[bool] = None,
                 init_cfg: Optional[Dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if in_channels < 1 or out_channels < 1:
            raise ValueError('FeatureAdapter in_channels/out_channels must '
                             f'be positive, got {in_channels}/'
                             f'{out_channels}.')
        if init_mode not in _INIT_MODES:
            raise ValueError(f'FeatureAdapter.init_mode must be one of '
                             f'{_INIT_MODES}, got "{init_mode}".')
        if init_mode == 'identity' and in_channels != out_channels:
            raise ValueError(
                "FeatureAdapter init_mode='identity' needs in_channels == "
                f'out_channels, got {in_channels} and {out_channels}; use '
                "init_mode='kaiming'.")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.init_mode = init_mode
        if reuse_output is not None:
            warnings.warn(
                'FeatureAdapter.reuse_output is deprecated and ignored: '
                'GTAwareDistiller computes each connector output once per '
                'step; remove it from the connector config.',
                DeprecationWarning)
        self.conv = nn.Conv2d(in_channels, out_channels, 1, bias=bias)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Initialise the conv according to ``init_mode``."""
        with torch.no_grad():
            if self.init_mode == 'identity':
                self.conv.weight.zero_()
                self.conv.weight[:, :, 0, 0].copy_(
                    torch.eye(self.out_channels))
            else:
                nn.init.kaiming_normal_(
                    self.conv.weight, mode='fan_out', nonlinearity='relu')
            if self.conv.bias is not None:
                self.conv.bias.zero_()

    def forward_train(self, feature: Tensor) -> Tensor:
        """Apply the 1x1 conv.

        Args:
            feature (Tensor): student feature ``(N, C_s, H, W)``.

        Returns:
            Tensor: ``(N, C_t, H, W)``.
        """
        if feature.dim() != 4 or feature.shape[1] != self.in_channels:
            raise ValueError(
                f'FeatureAdapter expects (N, {self.in_channels}, H, W) '
                f'student features, got {tuple(feature.shape)}; set the '
                "connector's in_channels to the student FPN width and map "
                'one level (data_idx) per adapter.')
        return self.conv(feature)
