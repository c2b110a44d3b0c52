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
    'box_cell_coverage', 'fgd_foreground_mask', 'background_mask',
    'fgd_masks'
]


def box_cell_coverage(boxes: Tensor, batch_input_shape: Tuple[int, int],
                      feat_hw: Tuple[int, int]) -> Tuple[Tensor, Tensor]:
    """Which feature cells each box covers (FGD's floor/ceil rounding).

    A box ``(x1, y1, x2, y2)`` in padded-input pixels covers the cells
    ``x in [floor(x1*W/W_in), ceil(x2*W/W_in)]`` (inclusive, clipped to the
    map) and the same for y.

    Args:
        boxes (Tensor): ``(M, 4)`` boxes in padded-input pixels.
        batch_input_shape (tuple[int, int]): ``(H_in, W_in)``.
        feat_hw (tuple[int, int]): ``(H, W)`` of the feature map.

    Returns:
        tuple[Tensor, Tensor]: ``inside`` ``(M, H, W)`` bool and the number
        of covered cells ``(M,)`` float (0 for boxes entirely off the map).
    """
    height, width = feat_hw
    in_h, in_w = batch_input_shape
    boxes = boxes.float()
    x1 = torch.floor(boxes[:, 0] * (width / in_w)).clamp(0, width - 1)
    x2 = torch.ceil(boxes[:, 2] * (width / in_w)).clamp(0, width - 1)
    y1 = torch.floor(boxes[:, 1] * (height / in_h)).clamp(0, height - 1)
    y2 = torch.ceil(boxes[:, 3] * (height / in_h)).clamp(0, height - 1)
    ys = torch.arange(height, device=boxes.device, dtype=torch.float32)
    xs = torch.arange(width, device=boxes.device, dtype=torch.float32)
    rows = (ys[None] >= y1[:, None]) & (ys[None] <= y2[:, None])  # (M, H)
    cols = (xs[None] >= x1[:, None]) & (xs[None] <= x2[:, None])  # (M, W)
    inside = rows[:, :, None] & cols[:, None, :]
    count = rows.sum(1).float() * cols.sum(1).float()
    return inside, count


def fgd_foreground_mask(boxes: Tensor, image_index: Tensor, num_images: int,
                        batch_input_shape: Tuple[int, int],
                        feat_hw: Tuple[int, int]) -> Tensor:
    """FGD scale mask: ``M_fg[h, w] = max over boxes covering (h, w) of
    1 / (h_b * w_b)``, box size in covered cells (FGD Eq. 3).

    Args:
        boxes (Tensor): ``(M, 4)`` GT boxes of the whole batch.
        image_index (Tensor): ``(M,)`` image of each box.
        num_images (int): N.
        batch_input_shape (tuple[int, int]): ``(H_in, W_in)``.
        feat_hw (tuple[int, int]): ``(H, W)``.

    Returns:
        Tensor: ``(N, H, W)`` float32 mask, 0 on background.
    """
    height, width = feat_hw
    mask = boxes.new_zeros((num_images, height, width), dtype=torch.float32)
    if boxes.numel() == 0:
        return mask
    inside, count = box_cell_coverage(boxes, batch_input_shape, feat_hw)
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


def fgd_masks(context: DistillBatchContext, feat_hw: Tuple[int, int],
              device: torch.device) -> Tuple[Tensor, Tensor]:
    """FGD foreground and background masks of one level, cached per batch.

    Returns:
        tuple[Tensor, Tensor]: ``(N, H, W)`` foreground and background.
    """

    def build():
        boxes, index = context.flat_gt_bboxes(device)
        fg = fgd_foreground_mask(boxes, index, context.num_images,
                                 context.batch_input_shape, feat_hw)
        return fg, background_mask(fg)

    return context.cached(('fgd_masks', tuple(feat_hw), str(device)), build)
