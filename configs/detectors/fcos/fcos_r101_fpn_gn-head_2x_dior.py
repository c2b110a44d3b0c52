# Copyright (c) mmkd_dense contributors. All rights reserved.
# FCOS R101-FPN (GN head), 2x, DIOR (20 classes, 800x800).
_base_ = './fcos_r50_fpn_gn-head_2x_dior.py'
model = dict(
    backbone=dict(
        depth=101,
        init_cfg=dict(checkpoint='https://download.pytorch.org/models/'
                      'resnet101-63fe2227.pth')))
