# Copyright (c) mmkd_dense contributors. All rights reserved.
# DS2D2 (TGRS 2025, arXiv 2512.04413): Faster R-CNN R101 -> Faster R-CNN R18, 2x, DIOR.
# Explicit stream (shared 1x1 adapter, Haar LL / high bands, DISW weight) +
# implicit stream (teacher head = full-frequency amplifier, trained HF
# amplifier; RoI KL (T=3) + class-aware L1).
# Loss weights: reference ds2d2_faster-rcnn_r{18,34,50}_fpn_2x_dior.py.
#   1. python tools/train.py configs/detectors/faster_rcnn/faster-rcnn_r101_fpn_2x_dior.py
#   2. python tools/train.py configs/ds2d2/ds2d2_hf-amplifier_faster-rcnn-r101_2x_dior.py
#   3. python tools/train.py configs/ds2d2/ds2d2_fpn_faster-rcnn-r101_faster-rcnn-r18_2x_dior.py
#      (other paths: --cfg-options model.teacher_ckpt=... \
#       model.distiller.distill_losses.loss_ds2d2_hf.amplifier_ckpt=...)
_base_ = [
    '../detectors/faster_rcnn/faster-rcnn_r18_fpn_2x_dior.py',
    './_base_/ds2d2_fpn_faster-rcnn-r101_2x_dior.py'
]

model = dict(_delete_=True, **_base_.distill, architecture=_base_.model)
# validates the student, then the teacher (logged as teacher.*)
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
