# Copyright (c) mmkd_dense contributors. All rights reserved.
# FCOS R101-FPN (GN head, pytorch-style normalisation), PASCAL VOC 07+12 (20 classes; test on VOC2007 test, 11-point mAP@0.5).
_base_ = './fcos_r50_fpn_gn-head_1x_voc0712.py'
model = dict(
    backbone=dict(
        depth=101,
        init_cfg=dict(checkpoint='https://download.pytorch.org/models/'
                      'resnet101-63fe2227.pth')))
