# Copyright (c) mmkd_dense contributors. All rights reserved.
# RetinaNet R18-FPN, 2x, DOTA v1.0 HBB (15 classes, 1024x1024 patches).
_base_ = './retinanet_r50_fpn_2x_dota.py'
model = dict(
    backbone=dict(
        depth=18,
        init_cfg=dict(checkpoint='https://download.pytorch.org/models/'
                      'resnet18-f37072fd.pth')),
    neck=dict(in_channels=[64, 128, 256, 512]))
