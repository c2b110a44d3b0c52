# Copyright (c) mmkd_dense contributors. All rights reserved.
# Faster R-CNN R50-FPN, 2x, DIOR (20 classes, 800x800).
# DS2D2 protocol (PolarAid/DS2D2): SGD lr 0.02 for 16 images (train with
# --auto-scale-lr on fewer images), 500-iter warm-up, steps at 16 and 22.
# ImageNet-pretrained backbone as in the paper (configs/_base_/models;
# R18/R34/R101 children set their file; README "Pretrained weights").
_base_ = [
    '../../_base_/models/faster-rcnn_r50_fpn.py',
    '../../_base_/datasets/dior.py',
    '../../_base_/schedules/schedule_2x.py', '../../_base_/default_runtime.py'
]
model = dict(roi_head=dict(bbox_head=dict(num_classes=20)))
