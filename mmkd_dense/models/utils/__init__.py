# Copyright (c) mmkd_dense contributors. All rights reserved.
from .amplifier_head import (amplifier_detector_cfg,
                             build_head_from_detector_cfg,
                             load_amplifier_head)
from .attention import channel_attention, spatial_attention
from .cid_weights import (cid_fg_bg_masks, cid_point_weights, cid_weight_map,
                          cid_weights)
from .context_block import GlobalContextBlock
from .dense_head_kd import (HEAD_KINDS, DenseTargets, aligned_giou_loss,
                            cached_dense_head_targets, decode_boxes,
                            dense_head_targets, find_module,
                            flatten_level_outputs, get_box_tensor,
                            gfl_integral, head_kind, prior_grid)
from .disw import (disw_for_context, disw_levels_for_context, disw_map,
                   disw_map_loop, disw_maps)
from .gt_masks import (AREA_MODES, background_mask, box_cell_coverage,
                       fgd_foreground_mask, fgd_masks)
from .feature_align import resize_to
from .haar_wavelet import haar_dwt2d, high_frequency
from .iteration_interval import IterationInterval
from .precision import (autocast_active, autocast_disabled, float32_forward,
                        has_low_precision, to_float32)
from .renamed_args import renamed_args
from .weight_maps import (BaseWeightMap, CIDWeightMap, DISWMap, FGDScaleMask,
                          build_weight_map)

__all__ = [
    'channel_attention', 'spatial_attention', 'GlobalContextBlock',
    'background_mask', 'box_cell_coverage', 'fgd_foreground_mask',
    'fgd_masks', 'resize_to', 'cid_weight_map', 'cid_point_weights',
    'cid_weights', 'cid_fg_bg_masks', 'disw_map', 'disw_map_loop',
    'disw_maps', 'disw_for_context', 'disw_levels_for_context',
    'haar_dwt2d', 'high_frequency', 'IterationInterval', 'AREA_MODES',
    'autocast_active', 'autocast_disabled', 'float32_forward',
    'has_low_precision', 'to_float32', 'HEAD_KINDS', 'DenseTargets',
    'aligned_giou_loss', 'cached_dense_head_targets', 'decode_boxes',
    'dense_head_targets', 'find_module', 'flatten_level_outputs',
    'get_box_tensor', 'gfl_integral', 'head_kind', 'BaseWeightMap',
    'CIDWeightMap', 'DISWMap', 'FGDScaleMask', 'build_weight_map',
    'prior_grid', 'load_amplifier_head', 'amplifier_detector_cfg',
    'build_head_from_detector_cfg', 'renamed_args'
]
