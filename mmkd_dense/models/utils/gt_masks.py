# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Vectorised box-to-feature-map rasterisers shared by the KD losses.

Every function works on all boxes of a batch at once (no Python loop over
boxes or pixels) on the feature's device.
"""
import warnings
from typing import Tuple

import torch
from torch import Tensor

from mmkd_dense.structures import DistillBatchContext

__all__ = [
    'AREA_MODES', 'box_cell_coverage', 'fgd_foreground_mask',
    'background_mask', 'fgd_masks'
]

#: How :func:`box_cell_coverage` counts a box's cells for the ``1 / (h*w)``
#: scale weight: ``'reference'`` uses the box's unclipped cell extent
#: ``(ceil(y2') - floor(y1') + 1) * (ceil(x2') - floor(x1') + 1)`` (the FGD
#: authors' ``Mask_fg``: a box touching the right/bottom border also counts
#: the cell column/row just past the map); ``'clipped'`` counts only the
#: cells on the map.
AREA_MODES = ('reference', 'clipped')


def _check_area_mode(area_mode: str) -> None:
    if area_mode not in AREA_MODES:
        raise ValueError(f'area_mode must be one of {AREA_MODES}, got '
                         f'"{area_mode}".')


def box_cell_coverage(boxes: Tensor,
                      batch_input_shape: Tuple[int, int],
                      feat_hw: Tuple[int, int],
                      area_mode: str = 'clipped') -> Tuple[Tensor, Tensor]:
    """Which feature cells each box covers (FGD's floor/ceil rounding).

    A box ``(x1, y1, x2, y2)`` in padded-input pixels covers the cells
    ``x in [floor(x1*W/W_in), ceil(x2*W/W_in)]`` (inclusive, clipped to the
    map) and the same for y. A box reaching the right (bottom) input border
    has ``ceil(x2*W/W_in) = W``: one cell column past the map.

    Args:
        boxes (Tensor): ``(M, 4)`` boxes in padded-input pixels.
        batch_input_shape (tuple[int, int]): ``(H_in, W_in)``.
        feat_hw (tuple[int, int]): ``(H, W)`` of the feature map.
        area_mode (str): how ``count`` treats cells past the map border,
            see :data:`AREA_MODES`. Defaults to ``'clipped'``.

    Returns:
        tuple[Tensor, Tensor]: ``inside`` ``(M, H, W)`` bool (always the
        clipped cells) and the cell count ``(M,)`` float used for the box's
        ``1 / (h*w)`` weight (``'clipped'``: 0 for boxes entirely off the
        map; ``'reference'``: the unclipped extent, at least 1).
    """
    _check_area_mode(area_mode)
    height, width = feat_hw
    in_h, in_w = batch_input_shape
    boxes = boxes.float()
    x1 = torch.floor(boxes[:, 0] * (width / in_w))
    x2 = torch.ceil(boxes[:, 2] * (width / in_w))
    y1 = torch.floor(boxes[:, 1] * (height / in_h))
    y2 = torch.ceil(boxes[:, 3] * (height / in_h))
    ys = torch.arange(height, device=boxes.device, dtype=torch.float32)
    xs = torch.arange(width, device=boxes.device, dtype=torch.float32)
    # comparing with the unclipped bounds selects the clipped cell range
    rows = (ys[None] >= y1[:, None]) & (ys[None] <= y2[:, None])  # (M, H)
    cols = (xs[None] >= x1[:, None]) & (xs[None] <= x2[:, None])  # (M, W)
    inside = rows[:, :, None] & cols[:, None, :]
    if area_mode == 'clipped':
        count = rows.sum(1).float() * cols.sum(1).float()
    else:
        count = ((y2 - y1 + 1).clamp(min=1) * (x2 - x1 + 1).clamp(min=1))
    return inside, count


def fgd_foreground_mask(boxes: Tensor,
                        image_index: Tensor,
                        num_images: int,
                        batch_input_shape: Tuple[int, int],
                        feat_hw: Tuple[int, int],
                        area_mode: str = 'clipped') -> Tensor:
    """FGD scale mask: ``M_fg[h, w] = max over boxes covering (h, w) of
    1 / (h_b * w_b)``, box size in cells (FGD Eq. 3).

    Args:
        boxes (Tensor): ``(M, 4)`` GT boxes of the whole batch.
        image_index (Tensor): ``(M,)`` image of each box.
        num_images (int): N.
        batch_input_shape (tuple[int, int]): ``(H_in, W_in)``.
        feat_hw (tuple[int, int]): ``(H, W)``.
        area_mode (str): ``'clipped'`` (``h_b * w_b`` = the box's cells on
            the map) or ``'reference'`` (its unclipped extent, as the FGD
            authors' code), see :data:`AREA_MODES`. Defaults to
            ``'clipped'``.

    Returns:
        Tensor: ``(N, H, W)`` float32 mask, 0 on background.
    """
    height, width = feat_hw
    mask = boxes.new_zeros((num_images, height, width), dtype=torch.float32)
    if boxes.numel() == 0:
        return mask
    inside, count = box_cell_coverage(boxes, batch_input_shape, feat_hw,
                                      area_mode)
    area_weight = torch.where(count > 0, 1.0 / count.clamp(min=1),
                              torch.zeros_like(count))
    values = inside.float() * area_weight[:, None, None]
    with warnings.catch_warnings():  # index_reduce is flagged as beta
        warnings.simplefilter('ignore', UserWarning)
        return mask.index_reduce_(0, image_index, values, 'amax',
                                  include_self=True)


def background_mask(foreground: Tensor) -> Tensor:
    """``M_bg = 1[no box] / sum(1[no box])`` per image (FGD Eq. 4).

    Args:
        foreground (Tensor): ``(N, H, W)``, positive inside boxes.

    Returns:
        Tensor: ``(N, H, W)``, each image's background summing to 1 (all
        zeros when boxes cover the whole map).
    """
    bg = (foreground <= 0).float()
    return bg / bg.sum(dim=(1, 2), keepdim=True).clamp(min=1.0)


def fgd_masks(context: DistillBatchContext,
              feat_hw: Tuple[int, int],
              device: torch.device,
              area_mode: str = 'clipped') -> Tuple[Tensor, Tensor]:
    """FGD foreground and background masks of one level, cached per batch.

    The cache key is ``('fgd_masks', (H, W), str(device), area_mode)``.
    Losses take these masks through the weight map
    :class:`~mmkd_dense.models.utils.weight_maps.FGDScaleMask` (their
    ``fg_weight`` argument), which reads this cache entry.

    Args:
        context (DistillBatchContext): GT boxes and the padded input shape.
        feat_hw (tuple[int, int]): ``(H, W)``.
        device (torch.device): device of the masks.
        area_mode (str): see :func:`fgd_foreground_mask`. Defaults to
            ``'clipped'``.

    Returns:
        tuple[Tensor, Tensor]: ``(N, H, W)`` float32 foreground and
        background.
    """
    _check_area_mode(area_mode)

    def build():
        boxes, index = context.flat_gt_bboxes(device)
        fg = fgd_foreground_mask(boxes, index, context.num_images,
                                 context.batch_input_shape, feat_hw,
                                 area_mode)
        return fg, background_mask(fg)

    return context.cached(
        ('fgd_masks', tuple(feat_hw), str(device), area_mode), build)
