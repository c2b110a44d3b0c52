# Copyright (c) mmkd_dense contributors. All rights reserved.
# RetinaNet R50-FPN, 2x, DOTA v1.0 HBB (15 classes, 1024x1024 patches).
# DS2D2 protocol (PolarAid/DS2D2): SGD lr 0.005 for 16 images (train with
# --auto-scale-lr on fewer images), 500-iter warm-up, steps at 16 and 22.
# ImageNet-pretrained backbone as in the paper (configs/_base_/models;
# R18/R34/R101 children set their file; README "Pretrained weights").
_base_ = [
    '../../_base_/models/retinanet_r50_fpn.py',
    '../../_base_/datasets/dota_hbb.py',
    '../../_base_/schedules/schedule_2x.py', '../../_base_/default_runtime.py'
]
model = dict(bbox_head=dict(num_classes=15))
optim_wrapper = dict(optimizer=dict(lr=0.005))
