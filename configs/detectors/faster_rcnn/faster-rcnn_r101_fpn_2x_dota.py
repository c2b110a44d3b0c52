# Copyright (c) mmkd_dense contributors. All rights reserved.
# Faster R-CNN R101-FPN, 2x, DOTA v1.0 HBB (15 classes, 1024x1024 patches).
_base_ = './faster-rcnn_r50_fpn_2x_dota.py'
model = dict(
    backbone=dict(
        depth=101,
        init_cfg=dict(checkpoint='https://download.pytorch.org/models/'
                      'resnet101-63fe2227.pth')))
