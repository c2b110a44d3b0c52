# Copyright (c) mmkd_dense contributors. All rights reserved.
"""DS2D2 Density-Independent Scale Weight (DISW).

DS2D2 (Gao et al., TGRS 2025, arXiv 2512.04413) weights its feature losses
with ``W`` ``(N, 1, h, w)``: 1 on every cell, plus, for every GT box,
``1 / (number of cells the box covers)`` on each of its cells. Every object
thus adds a total mass of 1 whatever its size, and overlapping objects add
up (dense scenes get more weight, small objects as much as large ones).

A box ``(x1, y1, x2, y2)`` in padded batch-input pixels covers the cells
``x in [max(0, floor(x1 * sw)), min(w - 1, ceil(x2 * sw))]`` (inclusive) and
``y`` likewise, ``sw = w / W_in``, ``sh = h / H_in`` (the reference code's
rounding). A box with no cell on the map adds nothing.

The reference builds the map in float16 on the CPU with a Python loop over
boxes; increments below ~5e-4 (boxes covering > ~2000 cells) are then lost
next to the background 1. Here it is float32, on the feature's device,
for all boxes of the batch at once; :func:`disw_map_loop` is the plain loop
(float32) kept for tests and the benchmark.
"""
from typing import List, Sequence, Tuple

import torch
from torch import Tensor

from mmkd_dense.structures import DistillBatchContext

__all__ = [
    'disw_map', 'disw_maps', 'disw_map_loop', 'disw_for_context',
    'disw_levels_for_context', 'disw_cell_ranges'
]

#: Upper bound on the ``(boxes, h, w)`` temporary of :func:`disw_map`;
#: larger batches are processed in chunks of boxes (same values).
_MAX_CHUNK_ELEMENTS = 1 << 24


def disw_cell_ranges(boxes: Tensor, batch_input_shape: Tuple[int, int],
                     feat_hw: Tuple[int, int]) -> Tensor:
    """Inclusive cell ranges ``(x_lo, y_lo, x_hi, y_hi)`` of each box.

    Args:
        boxes (Tensor): ``(M, 4)`` xyxy boxes in padded-input pixels.
        batch_input_shape (tuple[int, int]): ``(H_in, W_in)``.
        feat_hw (tuple[int, int]): ``(h, w)`` of the map.

    Returns:
        Tensor: ``(M, 4)`` float32 ``[x_lo, y_lo, x_hi, y_hi]`` with
        ``lo = max(0, floor(low * s))``, ``hi = min(size - 1,
        ceil(high * s))``; ``hi < lo`` means the box covers no cell.
    """
    return _multi_level_ranges(boxes, batch_input_shape, [feat_hw])[0]


def _multi_level_ranges(boxes: Tensor, batch_input_shape: Tuple[int, int],
                        feat_hws: Sequence[Tuple[int, int]]) -> Tensor:
    """:func:`disw_cell_ranges` of every level at once: ``(L, M, 4)``."""
    in_h, in_w = batch_input_shape
    f32 = dict(dtype=torch.float32, device=boxes.device)
    # per level (sw, sh) as float32, exactly like ``box * (w / W_in)``
    scale = torch.tensor([[w / in_w, h / in_h] for h, w in feat_hws],
                         **f32)[:, None]  # (L, 1, 2)
    limit = torch.tensor([[w - 1, h - 1] for h, w in feat_hws],
                         **f32)[:, None]  # (L, 1, 2)
    boxes = boxes.to(torch.float32)[None]  # (1, M, 4)
    lo = (boxes[..., :2] * scale).floor().clamp(min=0)
    hi = torch.minimum((boxes[..., 2:] * scale).ceil(), limit)
    return torch.cat([lo, hi], dim=-1)


def disw_maps(boxes: Tensor, image_index: Tensor, num_images: int,
              batch_input_shape: Tuple[int, int],
              feat_hws: Sequence[Tuple[int, int]]) -> List[Tensor]:
    """DISW maps of a batch at several sizes (e.g. all FPN levels), all boxes
    at once (no Python loop over boxes).

    ``W[n] = 1 + sum_{boxes b of image n} 1[cell in b] / |b|`` where ``|b|``
    is the number of cells box ``b`` covers (DS2D2, DISW).

    Args:
        boxes (Tensor): ``(M, 4)`` GT boxes of the whole batch, xyxy in
            padded-input pixels.
        image_index (Tensor): ``(M,)`` int64 image of each box.
        num_images (int): N.
        batch_input_shape (tuple[int, int]): ``(H_in, W_in)``.
        feat_hws (Sequence[tuple[int, int]]): ``(h, w)`` of each map.

    Returns:
        list[Tensor]: per size, ``(N, 1, h, w)`` float32 on
        ``boxes.device``. On the CPU the values are bit-identical to
        :func:`disw_map_loop` (boxes are added in the same order); on CUDA
        overlapping boxes are summed by atomics (differences of a few ulp at
        most).
    """
    hws = [(int(h), int(w)) for h, w in feat_hws]
    device = boxes.device
    maps = [
        torch.ones((num_images, h, w), dtype=torch.float32, device=device)
        for h, w in hws
    ]
    if boxes.numel() == 0 or not hws:
        return [m.unsqueeze(1) for m in maps]
    ranges = _multi_level_ranges(boxes, batch_input_shape, hws)  # (L,M,4)
    extent = (ranges[..., 2:] - ranges[..., :2] + 1).clamp(min=0)
    inc = 1.0 / (extent[..., 0] * extent[..., 1]).clamp(min=1)  # (L, M)
    image_index = image_index.to(device=device, dtype=torch.long)
    grid = torch.arange(max(max(hw) for hw in hws), device=device,
                        dtype=torch.float32)
    for level, (height, width) in enumerate(hws):  # levels, not boxes
        rng = ranges[level]
        cols = ((grid[:width] >= rng[:, 0:1]) &
                (grid[:width] <= rng[:, 2:3])).to(torch.float32)  # (M, w)
        rows = ((grid[:height] >= rng[:, 1:2]) &
                (grid[:height] <= rng[:, 3:4])).to(torch.float32)  # (M, h)
        rows = rows * inc[level][:, None]  # 0-cell boxes add zeros
        step = max(1, _MAX_CHUNK_ELEMENTS // max(1, height * width))
        for start in range(0, rows.shape[0], step):  # chunks, not boxes
            stop = start + step
            maps[level].index_add_(
                0, image_index[start:stop],
                rows[start:stop, :, None] * cols[start:stop, None, :])
    return [m.unsqueeze(1) for m in maps]


def disw_map(boxes: Tensor, image_index: Tensor, num_images: int,
             batch_input_shape: Tuple[int, int],
             feat_hw: Tuple[int, int]) -> Tensor:
    """DISW map of a batch at one size; see :func:`disw_maps`.

    Returns:
        Tensor: ``(N, 1, h, w)`` float32 on ``boxes.device``.
    """
    return disw_maps(boxes, image_index, num_images, batch_input_shape,
                     [feat_hw])[0]


def disw_map_loop(boxes: Tensor, image_index: Tensor, num_images: int,
                  batch_input_shape: Tuple[int, int],
                  feat_hw: Tuple[int, int]) -> Tensor:
    """Reference DISW: a plain Python loop over boxes (float32).

    For tests and ``tools/analysis_tools/benchmark_disw.py`` only; use
    :func:`disw_map` in training.

    Returns:
        Tensor: ``(N, 1, h, w)`` float32 on ``boxes.device``.
    """
    height, width = int(feat_hw[0]), int(feat_hw[1])
    in_h, in_w = batch_input_shape
    sw, sh = width / in_w, height / in_h
    weight = torch.ones((num_images, 1, height, width), dtype=torch.float32,
                        device=boxes.device)
    for box, img in zip(boxes.to(torch.float32), image_index.tolist()):
        x_lo = max(0, int(torch.floor(box[0] * sw)))
        y_lo = max(0, int(torch.floor(box[1] * sh)))
        x_hi = min(width - 1, int(torch.ceil(box[2] * sw)))
        y_hi = min(height - 1, int(torch.ceil(box[3] * sh)))
        if x_hi < x_lo or y_hi < y_lo:
            continue
        cells = (x_hi - x_lo + 1) * (y_hi - y_lo + 1)
        weight[img, :, y_lo:y_hi + 1, x_lo:x_hi + 1] += 1.0 / cells
    return weight


def disw_for_context(context: DistillBatchContext, feat_hw: Tuple[int, int],
                     device: torch.device) -> Tensor:
    """DISW map ``(N, 1, h, w)`` of the batch at one map size, computed once
    per batch and size (shared by every loss that asks for it)."""
    return disw_levels_for_context(context, [feat_hw], device)[0]


def disw_levels_for_context(context: DistillBatchContext,
                            feat_hws: Sequence[Tuple[int, int]],
                            device: torch.device) -> List[Tensor]:
    """DISW maps ``(N, 1, h, w)`` at several sizes (e.g. every FPN level),
    built together once per batch and set of sizes."""
    hws = tuple((int(h), int(w)) for h, w in feat_hws)

    def build() -> List[Tensor]:
        boxes, index = context.flat_gt_bboxes(device)
        return disw_maps(boxes, index, context.num_images,
                         context.batch_input_shape, hws)

    return context.cached(('ds2d2_disw', hws, str(device)), build)
