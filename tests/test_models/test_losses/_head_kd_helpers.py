# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Tiny dense heads and batches for the LD / CrossKD / dense-head-KD tests.

Two FPN levels (strides 8 and 16) of an 64x80 input, 8 channels, 2 tower
convs, anchors small enough that every GT box gets positives.
"""
import copy
from typing import List, Sequence, Tuple

import torch
from torch import Tensor, nn

import mmkd_dense  # noqa: F401
from mmkd_dense.structures import DistillBatchContext
from mmkd_dense.utils.dummy_batch import make_dummy_batch

NUM_CLASSES = 3
CH = 8
INPUT = (64, 80)
SIZES = ((8, 10), (4, 5))
GN = dict(type='GN', num_groups=4, requires_grad=True)


def head_cfg(kind: str, stacked_convs: int = 2) -> dict:
    """An mmdet head dict with its train_cfg (``kind``: retina/fcos/gfl)."""
    common = dict(num_classes=NUM_CLASSES, in_channels=CH,
                  stacked_convs=stacked_convs, feat_channels=CH)
    if kind == 'retina':
        return dict(
            common, type='RetinaHead',
            anchor_generator=dict(type='AnchorGenerator', octave_base_scale=2,
                                  scales_per_octave=2, ratios=[0.5, 1.0],
                                  strides=[8, 16]),
            bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0.] * 4,
                            target_stds=[1.] * 4),
            loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0,
                          alpha=0.25, loss_weight=1.0),
            loss_bbox=dict(type='L1Loss', loss_weight=1.0),
            train_cfg=dict(
                assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.5,
                              neg_iou_thr=0.4, min_pos_iou=0,
                              ignore_iof_thr=-1),
                sampler=dict(type='PseudoSampler'), allowed_border=-1,
                pos_weight=-1, debug=False))
    if kind == 'fcos':
        return dict(
            common, type='FCOSHead', strides=[8, 16],
            regress_ranges=((-1, 32), (32, 1e8)), norm_on_bbox=True,
            centerness_on_reg=True, center_sampling=True, conv_bias=True,
            norm_cfg=GN)
    if kind == 'gfl':
        return dict(
            common, type='GFLHead', norm_cfg=GN, reg_max=8,
            anchor_generator=dict(type='AnchorGenerator', ratios=[1.0],
                                  octave_base_scale=2, scales_per_octave=1,
                                  strides=[8, 16]),
            loss_cls=dict(type='QualityFocalLoss', use_sigmoid=True,
                          beta=2.0, loss_weight=1.0),
            loss_dfl=dict(type='DistributionFocalLoss', loss_weight=0.25),
            loss_bbox=dict(type='GIoULoss', loss_weight=2.0),
            train_cfg=dict(assigner=dict(type='ATSSAssigner', topk=9),
                           allowed_border=-1, pos_weight=-1, debug=False))
    raise ValueError(kind)


def build_head(cfg: dict, seed: int = 0) -> nn.Module:
    """Build an mmdet head dict with a fixed initialisation."""
    from mmdet.registry import MODELS
    torch.manual_seed(seed)
    head = MODELS.build(dict(copy.deepcopy(cfg), _scope_='mmdet'))
    head.init_weights()
    return head


class HeadsOnly(nn.Module):
    """Stand-in for a detector: only a ``bbox_head``."""

    def __init__(self, head: nn.Module) -> None:
        super().__init__()
        self.bbox_head = head


def samples(boxes_per_image: Sequence[int] = (3, 0), seed: int = 0) -> List:
    """Data samples (random GT; 0 = an image without GT)."""
    return make_dummy_batch(num_images=len(boxes_per_image),
                            input_shape=INPUT, num_classes=NUM_CLASSES,
                            boxes_per_image=boxes_per_image, seed=seed)[1]


def context(data_samples: Sequence) -> DistillBatchContext:
    return DistillBatchContext(data_samples, INPUT)


def features(seed: int, num_images: int = 2,
             requires_grad: bool = False) -> Tuple[Tensor, ...]:
    """FPN-like features of the two levels."""
    gen = torch.Generator().manual_seed(seed)
    return tuple(
        torch.randn(num_images, CH, h, w, generator=gen).requires_grad_(
            requires_grad) for h, w in SIZES)


def run_with_tower_records(head: nn.Module, feats: Sequence[Tensor],
                           k: int) -> Tuple[tuple, List[Tensor],
                                            List[Tensor]]:
    """``head(feats)`` plus the outputs of ``cls_convs[k-1]`` and
    ``reg_convs[k-1]`` per level, recorded with forward hooks as mmrazor's
    ``ModuleOutputs`` recorder does (``record_idx='all'``)."""
    cls_rec, reg_rec = [], []
    hooks = [
        head.cls_convs[k - 1].register_forward_hook(
            lambda m, i, o: cls_rec.append(o)),
        head.reg_convs[k - 1].register_forward_hook(
            lambda m, i, o: reg_rec.append(o))
    ]
    try:
        outs = head(tuple(feats))
    finally:
        for hook in hooks:
            hook.remove()
    return outs, cls_rec, reg_rec
