# Copyright (c) mmkd_dense contributors. All rights reserved.
# FCOS R50-FPN (GN head, pytorch-style normalisation), 2x, DIOR (20 classes, 800x800).
# mmdet FCOS optimisation: lr 0.01 for 16 images, no bias decay, doubled
# bias lr, grad clip 35; steps at 16 and 22.
# ImageNet-pretrained backbone as in the paper (configs/_base_/models;
# R18/R34/R101 children set their file; README "Pretrained weights").
_base_ = [
    '../../_base_/models/fcos_r50_fpn_gn-head.py',
    '../../_base_/datasets/dior.py',
    '../../_base_/schedules/schedule_2x.py', '../../_base_/default_runtime.py'
]
model = dict(bbox_head=dict(num_classes=20))
optim_wrapper = dict(
    optimizer=dict(lr=0.01),
    paramwise_cfg=dict(bias_lr_mult=2., bias_decay_mult=0.),
    clip_grad=dict(max_norm=35, norm_type=2))
