# Copyright (c) mmkd_dense contributors. All rights reserved.
# RetinaNet R34-FPN, 2x, DIOR (20 classes, 800x800).
_base_ = './retinanet_r50_fpn_2x_dior.py'
model = dict(
    backbone=dict(
        depth=34,
        init_cfg=dict(checkpoint='https://download.pytorch.org/models/'
                      'resnet34-b627a593.pth')),
    neck=dict(in_channels=[64, 128, 256, 512]))
