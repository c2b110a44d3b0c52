# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Small dense/RoI head configs and inputs shared by the head and
connector tests."""
import torch

__all__ = ['GN', 'build', 'gfl_head_cfg', 'retina_head_cfg', 'fcos_head_cfg',
           'bbox_head_cfg', 'feats', 'outputs_close']

GN = dict(type='GN', num_groups=4, requires_grad=True)


def build(cfg):
    from mmengine.registry import DefaultScope, MODELS, init_default_scope
    if DefaultScope.get_current_instance() is None:
        init_default_scope('mmdet')
    with DefaultScope.overwrite_default_scope('mmdet'):
        return MODELS.build(cfg)


def gfl_head_cfg(head_type='GFLHead'):
    return dict(
        type=head_type, num_classes=3, in_channels=8, stacked_convs=2,
        feat_channels=16, norm_cfg=GN,
        anchor_generator=dict(type='AnchorGenerator', ratios=[1.0],
                              octave_base_scale=8, scales_per_octave=1,
                              strides=[8, 16]))


def retina_head_cfg(head_type='RetinaHead'):
    return dict(
        type=head_type, num_classes=3, in_channels=8, stacked_convs=2,
        feat_channels=16,
        anchor_generator=dict(type='AnchorGenerator', octave_base_scale=4,
                              scales_per_octave=1, ratios=[0.5, 1.0, 2.0],
                              strides=[8, 16]))


def fcos_head_cfg(head_type='FCOSHead'):
    return dict(type=head_type, num_classes=3, in_channels=8,
                stacked_convs=2, feat_channels=16, strides=[8, 16],
                norm_cfg=GN, norm_on_bbox=True, centerness_on_reg=True)


def bbox_head_cfg(head_type):
    return dict(type=head_type, in_channels=8, fc_out_channels=32,
                roi_feat_size=7, num_classes=3)


def feats(seed=0):
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(2, 8, 8, 10, generator=gen),
            torch.randn(2, 8, 4, 5, generator=gen))


def outputs_close(a, b):
    """Nested (list/tuple of) tensors equal."""
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(
            outputs_close(x, y) for x, y in zip(a, b))
    return torch.allclose(a, b, atol=1e-6, rtol=0)
