# Copyright (c) mmkd_dense contributors. All rights reserved.
# DS2D2 teacher base for the embedded digits demo: demo teacher RetinaNet
# R18-c32 (FPN 64 ch, P3-P5), its trained HF amplifier (stage 2:
# configs/ds2d2/ds2d2_hf-amplifier_retina-r18c32_12e_digits.py) and 64-ch
# explicit-stream adapters. Loss weights: RetinaNet DIOR (ds2d2_fpn.py).
_base_ = ['./ds2d2_fpn.py']

teacher_ckpt = 'work_dirs/demo/teacher/epoch_12.pth'
amplifier_cfg = 'configs/ds2d2/ds2d2_hf-amplifier_retina-r18c32_12e_digits.py'
amplifier_ckpt = 'work_dirs/demo/ds2d2_hf_amplifier/epoch_12.pth'

distill = dict(
    teacher=dict(cfg_file='configs/demo/retinanet_r18c32_fpn_12e_digits.py'),
    teacher_ckpt=teacher_ckpt,
    distiller=dict(
        distill_losses=dict(
            loss_ds2d2_explicit=dict(student_channels=64, teacher_channels=64),
            loss_ds2d2_hf=dict(
                amplifier_cfg=amplifier_cfg, amplifier_ckpt=amplifier_ckpt))))
