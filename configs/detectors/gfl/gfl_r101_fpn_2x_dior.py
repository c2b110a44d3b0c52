# Copyright (c) mmkd_dense contributors. All rights reserved.
# GFL (GFLv1) R101-FPN, 2x, DIOR (20 classes, 800x800).
_base_ = './gfl_r50_fpn_2x_dior.py'
model = dict(
    backbone=dict(
        depth=101,
        init_cfg=dict(checkpoint='https://download.pytorch.org/models/'
                      'resnet101-63fe2227.pth')))
