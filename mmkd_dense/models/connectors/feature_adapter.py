# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Per-level 1x1 student feature adapter (the "feature-aligned" part of
LSFI + MDC-KD, docs/methods.md Sec. 1 step 1)."""
import weakref
from typing import Dict, Optional, Tuple

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

    mmrazor's distiller calls a connector once per loss mapping, so with
    LSFI and MDC-KD reading the same level the conv would run twice per
    step. With ``reuse_output`` the adapter returns its previous output
    when called again on the very same input tensor (same object and
    in-place version) with unchanged weights, an unmodified previous output
    and the same autograd mode; otherwise it recomputes. Only weak
    references are kept, so no tensor outlives the step because of the
    cache.

    Args:
        in_channels (int): student channels ``C_s``.
        out_channels (int): teacher channels ``C_t``.
        bias (bool): learnable bias. Defaults to True.
        init_mode (str): ``'kaiming'`` (Kaiming-normal weights, fan-out,
            zero bias; the spec) or ``'identity'`` (identity weights, zero
            bias; requires ``in_channels == out_channels``).
            Defaults to ``'kaiming'``.
        reuse_output (bool): reuse the output for a repeated call on the
            same input (see above). Defaults to True.
        init_cfg (dict, optional): mmengine init config; applied by
            ``init_weights`` after (and instead of) ``init_mode``.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 bias: bool = True,
                 init_mode: str = 'kaiming',
                 reuse_output: bool = True,
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
        self.reuse_output = reuse_output
        self.conv = nn.Conv2d(in_channels, out_channels, 1, bias=bias)
        self.reset_parameters()
        self._last: Optional[Tuple] = None

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

    def __getstate__(self) -> Dict:
        """Drop the (unpicklable, per-step) output cache when pickled."""
        state = dict(self.__dict__)
        state['_last'] = None
        return state

    def _state_key(self, feature: Tensor) -> Tuple:
        """What must be unchanged for a cached output to be valid."""
        params = tuple(p._version for p in self.conv.parameters())
        return (feature._version, params, torch.is_grad_enabled(),
                self.training)

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
        if self.reuse_output and self._last is not None:
            feature_ref, output_ref, key, out_version = self._last
            output = output_ref()
            if (feature_ref() is feature and output is not None
                    and output._version == out_version
                    and key == self._state_key(feature)):
                return output
        output = self.conv(feature)
        if self.reuse_output:
            self._last = (weakref.ref(feature), weakref.ref(output),
                          self._state_key(feature), output._version)
        return output
