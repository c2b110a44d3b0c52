# Copyright (c) mmkd_dense contributors. All rights reserved.
# DS2D2 stage 2: high-frequency amplifier of the Faster R-CNN R101 teacher, DIOR.
# Backbone + neck = the trained teacher, frozen; rpn_head + roi_head (DS2D2 keeps roi_head) retrained for 24
# epochs on HF(FPN) = upsampled sum of the Haar detail bands.
#   1. python tools/train.py configs/detectors/faster_rcnn/faster-rcnn_r101_fpn_2x_dior.py
#   2. python tools/train.py configs/ds2d2/ds2d2_hf-amplifier_faster-rcnn-r101_2x_dior.py  # load_from = the teacher
#      (other teacher path: --cfg-options load_from=<teacher .pth>)
_base_ = ['../detectors/faster_rcnn/faster-rcnn_r101_fpn_2x_dior.py']

teacher_ckpt = 'work_dirs/faster-rcnn_r101_fpn_2x_dior/epoch_24.pth'
model = dict(
    _delete_=True,
    type='mmkd_dense.HFAmplifierDetector',
    detector=_base_.model,
    frozen_modules=('backbone', 'neck'))
# backbone, neck and the initial head weights come from the teacher
load_from = teacher_ckpt
