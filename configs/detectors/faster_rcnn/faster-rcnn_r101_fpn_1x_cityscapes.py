# Copyright (c) mmkd_dense contributors. All rights reserved.
# Faster R-CNN R101-FPN, Cityscapes (8 classes, COCO bbox AP on val).
_base_ = './faster-rcnn_r50_fpn_1x_cityscapes.py'
model = dict(
    backbone=dict(
        depth=101,
        init_cfg=dict(checkpoint='https://download.pytorch.org/models/'
                      'resnet101-63fe2227.pth')))
