# Copyright (c) mmkd_dense contributors. All rights reserved.
# DS2D2 (TGRS 2025, arXiv 2512.04413): RetinaNet R101 -> RetinaNet R34, 2x, DOTA v1.0 (HBB).
# Explicit stream (shared 1x1 adapter, Haar LL / high bands, DISW weight) +
# implicit stream (teacher head = full-frequency amplifier, trained HF
# amplifier; KD quality-focal + GIoU).
# Loss weights: reference ds2d2_retinanet_r{18,34,50}_fpn_2x_dota.py.
#   1. python tools/train.py configs/detectors/retinanet/retinanet_r101_fpn_2x_dota.py
#   2. python tools/train.py configs/ds2d2/ds2d2_hf-amplifier_retina-r101_2x_dota.py
#   3. python tools/train.py configs/ds2d2/ds2d2_fpn_retina-r101_retina-r34_2x_dota.py
#      (other paths: --cfg-options model.teacher_ckpt=... \
#       model.distiller.distill_losses.loss_ds2d2_hf.amplifier_ckpt=...)
_base_ = [
    '../detectors/retinanet/retinanet_r34_fpn_2x_dota.py',
    './_base_/ds2d2_fpn_retina-r101_2x_dota.py'
]

model = dict(_delete_=True, **_base_.distill, architecture=_base_.model)
# validates the student, then the teacher (logged as teacher.*)
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
