# Copyright (c) mmkd_dense contributors. All rights reserved.
# DS2D2 (TGRS 2025, arXiv 2512.04413): FCOS R101 -> FCOS R50, 2x, DIOR.
# Explicit stream (shared 1x1 adapter, Haar LL / high bands, DISW weight) +
# implicit stream (teacher head = full-frequency amplifier, trained HF
# amplifier; KD quality-focal + GIoU).
# Loss weights: [PROPOSED] no reference FCOS config; RetinaNet DIOR weights.
#   1. python tools/train.py configs/detectors/fcos/fcos_r101_fpn_gn-head_2x_dior.py
#   2. python tools/train.py configs/ds2d2/ds2d2_hf-amplifier_fcos-r101_2x_dior.py
#   3. python tools/train.py configs/ds2d2/ds2d2_fpn_fcos-r101_fcos-r50_2x_dior.py
#      (other paths: --cfg-options model.teacher_ckpt=... \
#       model.distiller.distill_losses.loss_ds2d2_hf.amplifier_ckpt=...)
_base_ = [
    '../detectors/fcos/fcos_r50_fpn_gn-head_2x_dior.py',
    './_base_/ds2d2_fpn_fcos-r101_2x_dior.py'
]

model = dict(_delete_=True, **_base_.distill, architecture=_base_.model)
# validates the student, then the teacher (logged as teacher.*)
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
