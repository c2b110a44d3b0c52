# Copyright (c) mmkd_dense contributors. All rights reserved.
# DS2D2 teacher base: RetinaNet R101 teacher, DIOR. The teacher, its trained
# HF amplifier (stage 2:
# configs/ds2d2/ds2d2_hf-amplifier_retina-r101_2x_dior.py), shared by every
# student of this teacher (pair configs inherit [<student detector config>,
# this file]).
_base_ = ['./ds2d2_fpn.py']

teacher_ckpt = 'work_dirs/retinanet_r101_fpn_2x_dior/epoch_24.pth'
amplifier_cfg = 'configs/ds2d2/ds2d2_hf-amplifier_retina-r101_2x_dior.py'
amplifier_ckpt = 'work_dirs/ds2d2_hf-amplifier_retina-r101_2x_dior/epoch_24.pth'

distill = dict(
    teacher=dict(cfg_file='configs/detectors/retinanet/retinanet_r101_fpn_2x_dior.py'),
    teacher_ckpt=teacher_ckpt,
    distiller=dict(
        distill_losses=dict(
            loss_ds2d2_hf=dict(
                amplifier_cfg=amplifier_cfg, amplifier_ckpt=amplifier_ckpt))))
