# Copyright (c) mmkd_dense contributors. All rights reserved.
# GFL (GFLv1) R50-FPN, 2x, DIOR (20 classes, 800x800). SGD lr 0.01 for 16 images (mmdet GFL).
# ImageNet-pretrained backbone as in the paper (configs/_base_/models;
# R18/R34/R101 children set their file; README "Pretrained weights").
_base_ = [
    '../../_base_/models/gfl_r50_fpn.py',
    '../../_base_/datasets/dior.py',
    '../../_base_/schedules/schedule_2x.py', '../../_base_/default_runtime.py'
]
model = dict(bbox_head=dict(num_classes=20))
optim_wrapper = dict(optimizer=dict(lr=0.01))
