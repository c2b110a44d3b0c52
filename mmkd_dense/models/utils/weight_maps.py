# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Weight maps: where a feature loss looks, named in the loss's config.

A weight map turns the batch's GT (a
:class:`~mmkd_dense.structures.DistillBatchContext`) into one non-negative
weight per feature-map cell, ``(N, 1, H, W)`` float32. Feature losses take
one by config and never compute masks themselves, so any loss takes any
map::

    # FGD with CID's centerness weights as its foreground mask
    dict(type='mmkd_dense.FGDLoss', student_channels=256,
         teacher_channels=256,
         fg_weight=dict(type='mmkd_dense.CIDWeightMap', norm='instance'))
    # DISW-weighted MSE with FGD's scale mask instead of DISW
    dict(type='mmkd_dense.DISWFeatureLoss',
         weight=dict(type='mmkd_dense.FGDScaleMask', area_mode='clipped'))

The interface (see :class:`BaseWeightMap`) is one method and two derived
ones:

- ``weight_map(batch_context, featmap_size, device, stride=None)`` ->
  ``(N, 1, H, W)``: the map of one level;
- ``weight_map.levels(batch_context, featmap_sizes, device)`` -> one map
  per size (DISW builds all FPN levels in one pass);
- ``weight_map.fg_bg(batch_context, featmap_size, device)`` ->
  ``(M_fg, M_bg)``, both ``(N, 1, H, W)``: the map as FGD-style foreground
  mask and ``M_bg = 1[M_fg = 0] / sum_hw 1[M_fg = 0]`` per image (FGD
  Eq. 4; all zeros where the foreground covers the whole map).

Every result is computed once per batch (cached in the context with
``batch_context.cached``; the key holds the map's type and parameters, so
two losses naming equal maps share one tensor). A new map subclasses
:class:`BaseWeightMap`, implements ``compute`` and registers itself in
``mmkd_dense.registry.MODELS``.
"""
from abc import ABCMeta, abstractmethod
from typing import Hashable, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from mmkd_dense.registry import MODELS
from mmkd_dense.structures import DistillBatchContext
from .cid_weights import cid_fg_bg_masks, cid_weights
from .disw import disw_levels_for_context
from .gt_masks import AREA_MODES, background_mask, fgd_masks

__all__ = [
    'BaseWeightMap', 'FGDScaleMask', 'DISWMap', 'CIDWeightMap',
    'build_weight_map'
]

Size = Tuple[int, int]
Stride = Optional[Tuple[float, float]]


def _hw(featmap_size: Sequence[int]) -> Size:
    return int(featmap_size[0]), int(featmap_size[1])


def _stride(stride: Optional[Sequence[float]]) -> Stride:
    """A hashable ``(s_h, s_w)`` (or None)."""
    return None if stride is None else (float(stride[0]), float(stride[1]))


class BaseWeightMap(metaclass=ABCMeta):
    """A per-cell weight of a batch, computed once per batch and level.

    Subclasses implement :meth:`compute` (uncached, ``(N, 1, H, W)``
    float32) and may override :meth:`compute_levels` (several sizes in one
    pass) or :meth:`fg_bg`. Constructor arguments must be hashable values
    (they form the cache key together with the class name).
    """

    @abstractmethod
    def compute(self, batch_context: DistillBatchContext, featmap_size: Size,
                device: torch.device, stride: Stride) -> Tensor:
        """The map of one level, not cached.

        Args:
            batch_context (DistillBatchContext): GT boxes and input shape.
            featmap_size (tuple[int, int]): ``(H, W)``.
            device (torch.device): device of the result.
            stride (tuple[float, float], optional): ``(s_h, s_w)`` in input
                pixels when the caller knows it; maps that need it infer it
                from the sizes otherwise.

        Returns:
            Tensor: ``(N, 1, H, W)`` float32, non-negative.
        """

    def compute_levels(self, batch_context: DistillBatchContext,
                       featmap_sizes: Sequence[Size], device: torch.device,
                       strides: Sequence[Stride]) -> List[Tensor]:
        """The maps of several levels, not cached (default: one by one)."""
        return [
            self.compute(batch_context, hw, device, stride)
            for hw, stride in zip(featmap_sizes, strides)
        ]

    @property
    def cache_key(self) -> Hashable:
        """The class name and the constructor arguments."""
        return (type(self).__name__, ) + tuple(sorted(vars(self).items()))

    def __call__(self,
                 batch_context: DistillBatchContext,
                 featmap_size: Sequence[int],
                 device: torch.device,
                 stride: Stride = None) -> Tensor:
        """The map of one level, ``(N, 1, H, W)`` float32 (cached)."""
        hw, device = _hw(featmap_size), torch.device(device)
        stride = _stride(stride)
        key = ('weight_map', self.cache_key, hw, stride, str(device))
        return batch_context.cached(
            key, lambda: self.compute(batch_context, hw, device, stride))

    def levels(self,
               batch_context: DistillBatchContext,
               featmap_sizes: Sequence[Sequence[int]],
               device: torch.device,
               strides: Optional[Sequence[Stride]] = None) -> List[Tensor]:
        """The maps of several levels, each ``(N, 1, H_l, W_l)`` (cached;
        a later single-level call for one of the sizes reuses them)."""
        hws = tuple(_hw(hw) for hw in featmap_sizes)
        device = torch.device(device)
        strides = tuple(_stride(s) for s in strides) \
            if strides is not None else (None, ) * len(hws)
        if len(strides) != len(hws):
            raise ValueError(f'{type(self).__name__}.levels got '
                             f'{len(hws)} sizes but {len(strides)} strides.')
        maps = batch_context.cached(
            ('weight_map_levels', self.cache_key, hws, strides, str(device)),
            lambda: self.compute_levels(batch_context, hws, device, strides))
        for hw, stride, level_map in zip(hws, strides, maps):
            batch_context.cached(
                ('weight_map', self.cache_key, hw, stride, str(device)),
                lambda level_map=level_map: level_map)
        return list(maps)

    def fg_bg(self,
              batch_context: DistillBatchContext,
              featmap_size: Sequence[int],
              device: torch.device,
              stride: Stride = None) -> Tuple[Tensor, Tensor]:
        """The map as FGD-style masks: ``M_fg`` = the map, ``M_bg =
        1[M_fg = 0] / sum_hw 1[M_fg = 0]`` per image (cached).

        Returns:
            tuple[Tensor, Tensor]: ``(N, 1, H, W)`` float32 each.
        """
        hw, device = _hw(featmap_size), torch.device(device)
        stride = _stride(stride)

        def build() -> Tuple[Tensor, Tensor]:
            fg = self(batch_context, hw, device, stride)
            return fg, background_mask(fg[:, 0])[:, None]

        return batch_context.cached(
            ('weight_map_fg_bg', self.cache_key, hw, stride, str(device)),
            build)

    def __repr__(self) -> str:
        args = ', '.join(f'{k}={v!r}' for k, v in sorted(vars(self).items()))
        return f'{type(self).__name__}({args})'


@MODELS.register_module()
class FGDScaleMask(BaseWeightMap):
    """FGD's scale mask (FGD Eq. 3): ``M[h, w] = max over boxes covering
    (h, w) of 1 / (h_b * w_b)``, box size in cells, 0 on background.

    ``fg_bg`` gives FGD's ``(M_fg, M_bg)`` exactly (Eq. 3 and 4); the masks
    are the ones of :func:`~mmkd_dense.models.utils.fgd_masks` (same cache
    entry).

    Args:
        area_mode (str): ``'reference'`` (the FGD code's unclipped box-size
            count, default) or ``'clipped'`` (cells on the map); see
            :data:`~mmkd_dense.models.utils.AREA_MODES`.
    """

    def __init__(self, area_mode: str = 'reference') -> None:
        if area_mode not in AREA_MODES:
            raise ValueError(f'FGDScaleMask.area_mode must be one of '
                             f'{AREA_MODES}, got "{area_mode}".')
        self.area_mode = area_mode

    def compute(self, batch_context, featmap_size, device, stride):
        return self.fg_bg(batch_context, featmap_size, device)[0]

    def __call__(self, batch_context, featmap_size, device, stride=None):
        return self.fg_bg(batch_context, featmap_size, device)[0]

    def fg_bg(self, batch_context, featmap_size, device, stride=None):
        hw, device = _hw(featmap_size), torch.device(device)

        def build() -> Tuple[Tensor, Tensor]:
            fg, bg = fgd_masks(batch_context, hw, device, self.area_mode)
            return fg[:, None], bg[:, None]

        return batch_context.cached(
            ('weight_map_fg_bg', self.cache_key, hw, str(device)), build)


@MODELS.register_module()
class DISWMap(BaseWeightMap):
    """DS2D2's Density-Independent Scale Weight: ``W = base + sum over GT
    boxes b of 1[cell in b] / |b|`` (``|b|`` the cells ``b`` covers; see
    :mod:`mmkd_dense.models.utils.disw`).

    Args:
        base (float): the weight of every cell before the boxes are added.
            DS2D2 uses 1 (default). With ``base=0`` the map is 0 off the
            boxes, so it can serve as a foreground mask (``fg_bg`` then has a
            non-empty background); with ``base > 0`` every cell is
            foreground and ``M_bg`` is 0.
    """

    def __init__(self, base: float = 1.0) -> None:
        if base < 0:
            raise ValueError(f'DISWMap.base must be >= 0, got {base}.')
        self.base = float(base)

    def compute(self, batch_context, featmap_size, device, stride):
        return self.compute_levels(batch_context, [featmap_size], device,
                                   [stride])[0]

    def compute_levels(self, batch_context, featmap_sizes, device, strides):
        # shares the cache entry of disw_levels_for_context (DS2D2's maps)
        maps = disw_levels_for_context(batch_context, featmap_sizes, device)
        if self.base == 1.0:
            return list(maps)
        return [m - (1.0 - self.base) for m in maps]


@MODELS.register_module()
class CIDWeightMap(BaseWeightMap):
    """CID centerness weights ``W(p) = sum_g c~(p, g)`` (each instance has
    mass 1 per level; see :mod:`mmkd_dense.models.utils.cid_weights`).

    ``fg_bg`` gives ``M_fg`` = this map and ``M_bg = 1[W = 0] / sum
    1[W = 0]`` (the masks :class:`~mmkd_dense.models.losses.
    CIDWeightedFeatureLoss` used in ``'mask'`` mode).

    Args:
        norm (str): ``'instance'`` (``W`` itself: every instance has mass 1,
            as in FGD's ``1 / (h_b * w_b)`` scale mask, so FGD's alpha keeps
            its meaning; default) or ``'image'`` (``W / sum_hw W``: every
            image has mass 1).
        stride (tuple[float, float], optional): ``(s_h, s_w)`` of the level;
            when None the caller's stride, else inferred from the sizes
            (:func:`~mmkd_dense.models.utils.cid_weights.infer_stride`).
        offset (float): prior-centre offset in strides. Defaults to 0.5.
        expand (float): box enlargement. Defaults to 1.5.
        min_half (float): minimum enlarged half-size in strides.
            Defaults to 1.0.
    """

    def __init__(self,
                 norm: str = 'instance',
                 stride: Optional[Sequence[float]] = None,
                 offset: float = 0.5,
                 expand: float = 1.5,
                 min_half: float = 1.0) -> None:
        if norm not in ('instance', 'image'):
            raise ValueError('CIDWeightMap.norm must be "instance" or '
                             f'"image", got "{norm}".')
        self.norm = norm
        self.stride = tuple(float(s) for s in stride) \
            if stride is not None else None
        self.offset = float(offset)
        self.expand = float(expand)
        self.min_half = float(min_half)

    def _kwargs(self, stride: Stride) -> dict:
        stride = self.stride if self.stride is not None else stride
        return dict(stride=tuple(stride) if stride is not None else None,
                    offset=self.offset, expand=self.expand,
                    min_half=self.min_half)

    def compute(self, batch_context, featmap_size, device, stride):
        if self.norm == 'instance':
            weight = cid_weights(batch_context, featmap_size, device,
                                 **self._kwargs(stride))
        else:
            weight = self.fg_bg(batch_context, featmap_size, device,
                                stride)[0][:, 0]
        return weight[:, None]

    def fg_bg(self, batch_context, featmap_size, device, stride=None):
        hw, device = _hw(featmap_size), torch.device(device)
        stride = _stride(stride)

        def build() -> Tuple[Tensor, Tensor]:
            fg, bg = cid_fg_bg_masks(batch_context, hw, device, self.norm,
                                     **self._kwargs(stride))
            return fg[:, None], bg[:, None]

        return batch_context.cached(
            ('weight_map_fg_bg', self.cache_key, hw, stride, str(device)),
            build)


def build_weight_map(cfg: Union[dict, BaseWeightMap, None],
                     key: str) -> Optional[BaseWeightMap]:
    """Build a weight map from its config (or pass a built one through).

    Args:
        cfg (dict | BaseWeightMap | None): e.g.
            ``dict(type='mmkd_dense.CIDWeightMap', norm='instance')``.
        key (str): the config key, named in errors (e.g.
            ``'FGDLoss.fg_weight'``).

    Returns:
        BaseWeightMap | None: None when ``cfg`` is None.
    """
    if cfg is None or isinstance(cfg, BaseWeightMap):
        return cfg
    if not isinstance(cfg, dict) or 'type' not in cfg:
        raise TypeError(
            f'{key} must be a weight-map config such as dict(type='
            f"'mmkd_dense.FGDScaleMask'), got {cfg!r}.")
    built = MODELS.build(cfg)
    if not isinstance(built, BaseWeightMap):
        raise TypeError(
            f'{key}: {type(built).__name__} is not a weight map; use one of '
            'mmkd_dense.FGDScaleMask, mmkd_dense.DISWMap, '
            'mmkd_dense.CIDWeightMap (or a BaseWeightMap subclass).')
    return built
