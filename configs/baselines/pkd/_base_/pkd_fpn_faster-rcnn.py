# Copyright (c) mmkd_dense contributors. All rights reserved.
# PKD method base for Faster R-CNN students: loss weight 6 (mmrazor's
# pkd_fpn_faster-rcnn config); rest as pkd_fpn.py.
_base_ = ['./pkd_fpn.py']

distill = dict(
    distiller=dict(
        distill_losses={
            f'loss_pkd_fpn{i}': dict(loss_weight=6)
            for i in range(4)
        }))
