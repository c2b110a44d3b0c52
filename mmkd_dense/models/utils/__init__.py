# Copyright (c) mmkd_dense contributors. All rights reserved.
from .attention import channel_attention, spatial_attention
from .context_block import GlobalContextBlock
from .gt_masks import (background_mask, box_cell_coverage, fgd_foreground_mask,
                       fgd_masks)
from .feature_align import resize_to

__all__ = [
    'channel_attention', 'spatial_attention', 'GlobalContextBlock',
    'background_mask', 'box_cell_coverage', 'fgd_foreground_mask',
    'fgd_masks', 'resize_to'
]
