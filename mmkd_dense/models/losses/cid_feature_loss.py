# Copyright (c) mmkd_dense contributors. All rights reserved.
"""CID weights as the region weighting of any feature-level KD loss.

CID + Light-ML (arXiv 2411.02861) improves existing KD methods by letting
them focus on the regions CID selects; ``docs/methods.md`` section 3:
"with a feature-KD base method (FGD/PKD), use W as that method's foreground
mask".

The direct way for a loss that takes a weight map is to name the CID map in
its config::

    dict(type='mmkd_dense.FGDLoss', ...,
         fg_weight=dict(type='mmkd_dense.CIDWeightMap', norm='instance'))

:class:`CIDWeightedFeatureLoss` in ``'mask'`` mode is a thin adapter that
builds exactly that (kept for existing configs); its ``'feature'`` mode
weights the inputs of mask-free losses (PKD, CWD, MSE).
"""
import copy
import inspect
from typing import Optional, Tuple, Union

from torch import Tensor, nn

from mmkd_dense.registry import MODELS
from mmkd_dense.structures import DistillBatchContext
from ..utils.precision import float32_forward
from ..utils.weight_maps import CIDWeightMap

__all__ = ['CIDWeightedFeatureLoss']

#: the constructor argument through which a feature loss takes its
#: foreground weight map (FGDLoss, LSFILoss)
FG_WEIGHT_ARG = 'fg_weight'


@MODELS.register_module()
class CIDWeightedFeatureLoss(nn.Module):
    """Wrap a feature KD loss so that CID weights decide where it looks.

    Modes:

    - ``'mask'`` (FGD, LSFI, any loss with an ``fg_weight`` weight-map
      argument): builds the wrapped loss with ``fg_weight=dict(type=
      'mmkd_dense.CIDWeightMap', norm=norm, stride=..., offset=...,
      expand=..., min_half=...)``, so its foreground mask becomes
      ``M_fg = W`` (``norm='instance'``: each instance has mass 1 per
      level, like FGD's ``1 / (h_b w_b)`` scale mask, so FGD's alpha keeps
      its meaning) or ``W / sum W`` per image (``norm='image'``), and
      ``M_bg = 1[W = 0] / sum 1[W = 0]``. Everything else (attention,
      global terms, weights) is the wrapped loss's own. The wrapper only
      forwards: writing ``fg_weight=dict(type='mmkd_dense.CIDWeightMap')``
      in the loss's own config gives the same loss without it (the
      wrapper's checkpoint keys have an extra ``loss.`` prefix).
    - ``'feature'`` (mask-free losses such as ``mmrazor.PKDLoss``, MSE,
      CWD): both features are multiplied by
      ``m(p) = bg_weight + (1 - bg_weight) * W(p) / max_image W`` before
      the wrapped loss (weighted squared errors become
      ``m^2``-weighted).

    Args:
        loss (dict | nn.Module): config of the wrapped loss, e.g.
            ``dict(type='mmkd_dense.FGDLoss', ...)``. In ``'mask'`` mode a
            built loss must have an ``fg_weight`` attribute (it is
            replaced); a config must not set ``fg_weight`` or
            ``area_mode``.
        mode (str): ``'mask'`` or ``'feature'``. Defaults to ``'mask'``.
        norm (str): ``'instance'`` or ``'image'`` (mode ``'mask'``).
        bg_weight (float): floor of ``m`` (mode ``'feature'``). Defaults 0.
        stride (tuple[float, float], optional): ``(s_h, s_w)`` of the
            level; inferred from the feature size when None.
        offset (float): cell-centre offset in strides. Defaults to 0.5.
        expand (float): CID box enlargement. Defaults to 1.5.
        min_half (float): minimum enlarged half-size in strides.

    Mixed precision: the wrapper and the wrapped loss run in float32 under
    autocast or with float16/bfloat16 inputs (so a wrapped loss that is not
    AMP-safe itself, e.g. ``mmrazor.PKDLoss``, is protected too).
    """

    def __init__(self,
                 loss: dict,
                 mode: str = 'mask',
                 norm: str = 'instance',
                 bg_weight: float = 0.0,
                 stride: Optional[Tuple[float, float]] = None,
                 offset: float = 0.5,
                 expand: float = 1.5,
                 min_half: float = 1.0) -> None:
        super().__init__()
        if mode not in ('mask', 'feature'):
            raise ValueError('CIDWeightedFeatureLoss.mode must be "mask" or '
                             f'"feature", got "{mode}".')
        if norm not in ('instance', 'image'):
            raise ValueError('CIDWeightedFeatureLoss.norm must be "instance"'
                             f' or "image", got "{norm}".')
        self.mode = mode
        self.norm = norm
        self.bg_weight = bg_weight
        #: the CID map (``M_fg`` in mode 'mask', ``W`` in mode 'feature')
        self.cid_map = CIDWeightMap(
            norm=norm if mode == 'mask' else 'instance', stride=stride,
            offset=offset, expand=expand, min_half=min_half)
        self.loss = self._build_inner(loss) if mode == 'mask' else (
            MODELS.build(loss) if isinstance(loss, dict) else loss)
        params = inspect.signature(self.loss.forward).parameters
        self._inner_takes_context = 'batch_context' in params

    def _build_inner(self, loss: Union[dict, nn.Module]) -> nn.Module:
        """The wrapped loss with the CID map as its ``fg_weight``."""
        if isinstance(loss, nn.Module):
            if not hasattr(loss, FG_WEIGHT_ARG):
                raise ValueError(self._no_map_message(type(loss)))
            loss.fg_weight = self.cid_map
            if hasattr(loss, 'area_mode'):
                loss.area_mode = None  # no FGD box mask any more
            return loss
        cfg = copy.deepcopy(dict(loss))
        for key in (FG_WEIGHT_ARG, 'area_mode'):
            if key in cfg:
                raise ValueError(
                    f'CIDWeightedFeatureLoss(mode="mask").loss.{key}='
                    f'{cfg[key]!r}: the wrapper sets the foreground map '
                    'itself (CID weights); remove loss.' + key + ', or '
                    "write fg_weight=dict(type='mmkd_dense.CIDWeightMap', "
                    '...) in the loss config and drop the wrapper.')
        cls = MODELS.get(cfg['type']) if isinstance(cfg.get('type'),
                                                    str) else cfg.get('type')
        if cls is None:
            return MODELS.build(cfg)  # the registry's own unknown-type error
        if FG_WEIGHT_ARG not in inspect.signature(cls).parameters:
            raise ValueError(self._no_map_message(cls))
        cfg[FG_WEIGHT_ARG] = self.cid_map
        return MODELS.build(cfg)

    @staticmethod
    def _no_map_message(cls: type) -> str:
        return (f'CIDWeightedFeatureLoss.mode="mask" needs a loss that '
                f'takes a foreground weight map (an `{FG_WEIGHT_ARG}` '
                f'argument, e.g. FGDLoss, LSFILoss), but {cls.__name__} has '
                'none; use mode="feature" (the CID weights then scale both '
                'features).')

    @float32_forward
    def forward(self, preds_S: Tensor, preds_T: Tensor,
                batch_context: DistillBatchContext) -> Tensor:
        """Run the wrapped loss with CID region weighting.

        Args:
            preds_S (Tensor): student feature ``(N, C_s, H, W)``.
            preds_T (Tensor): teacher feature ``(N, C_t, H, W)``.
            batch_context (DistillBatchContext): GT boxes, input shape.

        Returns:
            Tensor: the wrapped loss's value.
        """
        if self.mode == 'mask':
            return self.loss(preds_S, preds_T, batch_context=batch_context)
        preds_S = preds_S * self._feature_mask(preds_S, batch_context)
        preds_T = preds_T * self._feature_mask(preds_T, batch_context)
        if self._inner_takes_context:
            return self.loss(preds_S, preds_T, batch_context=batch_context)
        return self.loss(preds_S, preds_T)

    def _feature_mask(self, feat: Tensor,
                      context: DistillBatchContext) -> Tensor:
        """``m(p)`` of a feature, ``(N, 1, H, W)``."""
        weight = self.cid_map(context, feat.shape[-2:], feat.device)
        peak = weight.amax(dim=(2, 3), keepdim=True).clamp(min=1e-12)
        mask = self.bg_weight + (1 - self.bg_weight) * weight / peak
        return mask.to(feat.dtype)
