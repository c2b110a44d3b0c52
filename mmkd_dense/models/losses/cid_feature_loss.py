# Copyright (c) mmkd_dense contributors. All rights reserved.
"""CID weights as the region weighting of any feature-level KD loss.

CID + Light-ML (arXiv 2411.02861) improves existing KD methods by letting
them focus on the regions CID selects; ``docs/methods.md`` section 3:
"with a feature-KD base method (FGD/PKD), use W as that method's foreground
mask".
"""
import inspect
from typing import Any, Callable, Hashable, Optional, Tuple

import torch
from torch import Tensor, nn

from mmkd_dense.registry import MODELS
from mmkd_dense.structures import DistillBatchContext
from ..utils.cid_weights import cid_fg_bg_masks, cid_weights
from ..utils.precision import float32_forward

__all__ = ['CIDWeightedFeatureLoss']

#: Cache key prefix of :func:`mmkd_dense.models.utils.fgd_masks`.
FGD_MASK_KEY = 'fgd_masks'


class _CIDMaskContext:
    """A view of a batch context whose FGD-style masks are CID masks.

    Every attribute is the wrapped context's, except that ``cached()``
    answers the ``fgd_masks`` keys ``('fgd_masks', (H, W), device,
    area_mode)`` (used by ``fgd_masks()``, hence by ``FGDLoss``,
    ``LSFILoss`` and any loss built on that helper; the box-size
    ``area_mode`` does not apply to CID masks) with
    :func:`cid_fg_bg_masks`.
    """

    def __init__(self, base: DistillBatchContext,
                 provider: Callable[[Tuple[int, int], str], Any]) -> None:
        self._base = base
        self._provider = provider
        self.used = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._base, name)

    def cached(self, key: Hashable, build: Callable[[], Any]) -> Any:
        if isinstance(key, tuple) and len(key) >= 3 and \
                key[0] == FGD_MASK_KEY:
            self.used = True
            return self._provider(tuple(key[1]), key[2])
        return self._base.cached(key, build)


@MODELS.register_module()
class CIDWeightedFeatureLoss(nn.Module):
    """Wrap a feature KD loss so that CID weights decide where it looks.

    Modes:

    - ``'mask'`` (FGD, LSFI, any loss whose masks come from
      :func:`~mmkd_dense.models.utils.fgd_masks`): the loss's foreground
      mask becomes ``M_fg = W`` (``norm='instance'``: each instance has mass
      1 per level, like FGD's ``1 / (h_b w_b)`` scale mask, so FGD's alpha
      keeps its meaning) or ``W / sum W`` per image (``norm='image'``), and
      ``M_bg = 1[W = 0] / sum 1[W = 0]``. Everything else (attention,
      global terms, weights) is the wrapped loss's own.
    - ``'feature'`` (mask-free losses such as ``mmrazor.PKDLoss``, MSE,
      CWD): both features are multiplied by
      ``m(p) = bg_weight + (1 - bg_weight) * W(p) / max_image W`` before
      the wrapped loss (weighted squared errors become
      ``m^2``-weighted).

    Args:
        loss (dict): config of the wrapped loss, e.g.
            ``dict(type='mmkd_dense.FGDLoss', ...)``.
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
        self.loss = MODELS.build(loss) if isinstance(loss, dict) else loss
        self.mode = mode
        self.norm = norm
        self.bg_weight = bg_weight
        self.cid_kwargs = dict(
            stride=tuple(stride) if stride is not None else None,
            offset=offset, expand=expand, min_half=min_half)
        params = inspect.signature(self.loss.forward).parameters
        self._inner_takes_context = 'batch_context' in params
        if mode == 'mask' and not self._inner_takes_context:
            raise ValueError(
                f'CIDWeightedFeatureLoss.mode="mask" needs a GT-aware loss '
                f'(with a batch_context argument), but '
                f'{type(self.loss).__name__} has none; use mode="feature".')

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
            def provider(feat_hw: Tuple[int, int], device: str):
                return cid_fg_bg_masks(batch_context, feat_hw,
                                       torch.device(device), self.norm,
                                       **self.cid_kwargs)

            view = _CIDMaskContext(batch_context, provider)
            value = self.loss(preds_S, preds_T, batch_context=view)
            if not view.used:
                raise RuntimeError(
                    f'{type(self.loss).__name__} did not take its masks from '
                    'mmkd_dense.models.utils.fgd_masks, so '
                    'CIDWeightedFeatureLoss.mode="mask" cannot replace them; '
                    'use mode="feature".')
            return value
        preds_S = preds_S * self._feature_mask(preds_S, batch_context)
        preds_T = preds_T * self._feature_mask(preds_T, batch_context)
        if self._inner_takes_context:
            return self.loss(preds_S, preds_T, batch_context=batch_context)
        return self.loss(preds_S, preds_T)

    def _feature_mask(self, feat: Tensor,
                      context: DistillBatchContext) -> Tensor:
        """``m(p)`` of a feature, ``(N, 1, H, W)``."""
        weight = cid_weights(context, tuple(feat.shape[-2:]), feat.device,
                             **self.cid_kwargs)
        peak = weight.amax(dim=(1, 2), keepdim=True).clamp(min=1e-12)
        mask = self.bg_weight + (1 - self.bg_weight) * weight / peak
        return mask[:, None].to(feat.dtype)
