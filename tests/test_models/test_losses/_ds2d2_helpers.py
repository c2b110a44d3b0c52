# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Tiny detectors, heads and batches for the DS2D2 tests (CPU, fast)."""
import copy

import torch
from torch import nn

import mmkd_dense  # noqa: F401
from mmkd_dense.structures import DistillBatchContext
from mmkd_dense.utils.dummy_batch import make_dummy_batch

NUM_CLASSES = 3
CH = 8
INPUT = (64, 80)

ASSIGN_RETINA = dict(
    assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.5, neg_iou_thr=0.4,
                  min_pos_iou=0, ignore_iof_thr=-1),
    sampler=dict(type='PseudoSampler'), allowed_border=-1, pos_weight=-1,
    debug=False)
TEST_CFG = dict(nms_pre=100, min_bbox_size=0, score_thr=0.0,
                nms=dict(type='nms', iou_threshold=0.5), max_per_img=20)
GN = dict(type='GN', num_groups=4, requires_grad=True)


def retina_head_cfg(strides=(8, 16)):
    return dict(
        type='RetinaHead', num_classes=NUM_CLASSES, in_channels=CH,
        stacked_convs=1, feat_channels=CH,
        anchor_generator=dict(type='AnchorGenerator', octave_base_scale=4,
                              scales_per_octave=3, ratios=[0.5, 1.0, 2.0],
                              strides=list(strides)),
        bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0.] * 4,
                        target_stds=[1.] * 4),
        loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0,
                      alpha=0.25, loss_weight=1.0),
        loss_bbox=dict(type='L1Loss', loss_weight=1.0))


def fcos_head_cfg():
    return dict(
        type='FCOSHead', num_classes=NUM_CLASSES, in_channels=CH,
        stacked_convs=1, feat_channels=CH, strides=[8, 16],
        regress_ranges=((-1, 32), (32, 1e8)), norm_on_bbox=True,
        centerness_on_reg=True, center_sampling=True, conv_bias=True,
        norm_cfg=GN)


def gfl_head_cfg():
    return dict(
        type='GFLHead', num_classes=NUM_CLASSES, in_channels=CH,
        stacked_convs=1, feat_channels=CH, norm_cfg=GN, reg_max=8,
        anchor_generator=dict(type='AnchorGenerator', ratios=[1.0],
                              octave_base_scale=8, scales_per_octave=1,
                              strides=[8, 16]),
        loss_cls=dict(type='QualityFocalLoss', use_sigmoid=True, beta=2.0,
                      loss_weight=1.0),
        loss_dfl=dict(type='DistributionFocalLoss', loss_weight=0.25),
        loss_bbox=dict(type='GIoULoss', loss_weight=2.0))


def single_stage_train_cfg(kind):
    if kind == 'gfl':
        return dict(assigner=dict(type='ATSSAssigner', topk=9),
                    allowed_border=-1, pos_weight=-1, debug=False)
    if kind == 'fcos':
        return None
    return copy.deepcopy(ASSIGN_RETINA)


HEADS = dict(retina=retina_head_cfg, fcos=fcos_head_cfg, gfl=gfl_head_cfg)
TYPES = dict(retina='RetinaNet', fcos='FCOS', gfl='GFL')


def tiny_backbone_neck(num_outs=2, start_level=1):
    backbone = dict(type='ResNet', depth=18, base_channels=8,
                    stem_channels=8, num_stages=4, out_indices=(0, 1, 2, 3),
                    frozen_stages=1, norm_eval=True, style='pytorch',
                    init_cfg=None)
    neck = dict(type='FPN', in_channels=[8, 16, 32, 64], out_channels=CH,
                start_level=start_level,
                end_level=start_level + num_outs - 1, num_outs=num_outs)
    return backbone, neck


def single_stage_detector_cfg(kind='retina'):
    """A tiny mmdet single-stage detector dict (strides 8 and 16)."""
    backbone, neck = tiny_backbone_neck()
    head = HEADS[kind]()
    return dict(
        _scope_='mmdet', type=TYPES[kind],
        data_preprocessor=dict(type='DetDataPreprocessor', mean=[0.] * 3,
                               std=[1.] * 3, pad_size_divisor=32),
        backbone=backbone, neck=neck, bbox_head=head,
        train_cfg=single_stage_train_cfg(kind), test_cfg=TEST_CFG)


def roi_head_cfg():
    return dict(
        type='StandardRoIHead',
        bbox_roi_extractor=dict(
            type='SingleRoIExtractor',
            roi_layer=dict(type='RoIAlign', output_size=7, sampling_ratio=0),
            out_channels=CH, featmap_strides=[4, 8]),
        bbox_head=dict(
            type='Shared2FCBBoxHead', in_channels=CH, fc_out_channels=16,
            roi_feat_size=7, num_classes=NUM_CLASSES,
            bbox_coder=dict(type='DeltaXYWHBBoxCoder',
                            target_means=[0.] * 4,
                            target_stds=[0.1, 0.1, 0.2, 0.2]),
            reg_class_agnostic=False,
            loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=False,
                          loss_weight=1.0),
            loss_bbox=dict(type='L1Loss', loss_weight=1.0)))


def two_stage_detector_cfg():
    """A tiny Faster R-CNN dict (P2-P4, RoIs on P2-P3)."""
    backbone, neck = tiny_backbone_neck(num_outs=3, start_level=0)
    return dict(
        _scope_='mmdet', type='FasterRCNN',
        data_preprocessor=dict(type='DetDataPreprocessor', mean=[0.] * 3,
                               std=[1.] * 3, pad_size_divisor=32),
        backbone=backbone, neck=neck,
        rpn_head=dict(
            type='RPNHead', in_channels=CH, feat_channels=CH,
            anchor_generator=dict(type='AnchorGenerator', scales=[8],
                                  ratios=[0.5, 1.0, 2.0],
                                  strides=[4, 8, 16]),
            bbox_coder=dict(type='DeltaXYWHBBoxCoder',
                            target_means=[0.] * 4, target_stds=[1.] * 4),
            loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=True,
                          loss_weight=1.0),
            loss_bbox=dict(type='L1Loss', loss_weight=1.0)),
        roi_head=roi_head_cfg(),
        train_cfg=dict(
            rpn=dict(
                assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.7,
                              neg_iou_thr=0.3, min_pos_iou=0.3,
                              match_low_quality=True, ignore_iof_thr=-1),
                sampler=dict(type='RandomSampler', num=64,
                             pos_fraction=0.5, neg_pos_ub=-1,
                             add_gt_as_proposals=False),
                allowed_border=-1, pos_weight=-1, debug=False),
            rpn_proposal=dict(nms_pre=200, max_per_img=50,
                              nms=dict(type='nms', iou_threshold=0.7),
                              min_bbox_size=0),
            rcnn=dict(
                assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.5,
                              neg_iou_thr=0.5, min_pos_iou=0.5,
                              match_low_quality=False, ignore_iof_thr=-1),
                sampler=dict(type='RandomSampler', num=32,
                             pos_fraction=0.25, neg_pos_ub=-1,
                             add_gt_as_proposals=True),
                pos_weight=-1, debug=False)),
        test_cfg=dict(
            rpn=dict(nms_pre=100, max_per_img=50,
                     nms=dict(type='nms', iou_threshold=0.7),
                     min_bbox_size=0),
            rcnn=dict(score_thr=0.0, nms=dict(type='nms', iou_threshold=0.5),
                      max_per_img=20)))


def build(cfg):
    from mmengine.config import ConfigDict

    from mmkd_dense.registry import MODELS
    return MODELS.build(ConfigDict(copy.deepcopy(cfg)))


class HeadsOnly(nn.Module):
    """Stand-in for a detector: just the heads the losses look up."""

    def __init__(self, **modules):
        super().__init__()
        for name, module in modules.items():
            setattr(self, name, module)


def frozen(module):
    module.requires_grad_(False)
    return module


def batch(seed=0, boxes_per_image=(3, 0), input_shape=INPUT):
    """Dummy inputs, samples and a context (one image without GT)."""
    inputs, samples = make_dummy_batch(
        num_images=2, input_shape=input_shape, num_classes=NUM_CLASSES,
        boxes_per_image=boxes_per_image, seed=seed)
    return inputs, samples


def make_context(samples, input_shape=INPUT):
    """The batch's data only (GT, metas, input shape)."""
    return DistillBatchContext(samples, input_shape)


def wire(loss, student=None, teacher=None):
    """Wire a loss's network handles as the distiller does at build time
    (``prepare_from_student`` / ``prepare_from_teacher``); returns it."""
    if student is not None and hasattr(loss, 'prepare_from_student'):
        loss.prepare_from_student(student)
    if teacher is not None and hasattr(loss, 'prepare_from_teacher'):
        loss.prepare_from_teacher(teacher)
    return loss


def fpn_features(seed, num_images=2, sizes=((8, 10), (4, 5)),
                 requires_grad=False):
    gen = torch.Generator().manual_seed(seed)
    return tuple(
        torch.randn(num_images, CH, h, w, generator=gen).requires_grad_(
            requires_grad) for h, w in sizes)
