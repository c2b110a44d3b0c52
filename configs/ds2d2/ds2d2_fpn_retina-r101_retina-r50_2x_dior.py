# Copyright (c) mmkd_dense contributors. All rights reserved.
# DS2D2 (TGRS 2025, arXiv 2512.04413): RetinaNet R101 -> RetinaNet R50, 2x, DIOR.
# Explicit stream (shared 1x1 adapter, Haar LL / high bands, DISW weight) +
# implicit stream (teacher head = full-frequency amplifier, trained HF
# amplifier; KD quality-focal + GIoU).
# Loss weights: [PROPOSED] no reference config for this student; taken from the
# reference ds2d2_retinanet_r18_fpn_2x_dior.py.
#   1. python tools/train.py configs/detectors/retinanet/retinanet_r101_fpn_2x_dior.py
#   2. python tools/train.py configs/ds2d2/ds2d2_hf-amplifier_retina-r101_2x_dior.py
#   3. python tools/train.py configs/ds2d2/ds2d2_fpn_retina-r101_retina-r50_2x_dior.py
#      (other paths: --cfg-options model.teacher_ckpt=... \
#       model.distiller.distill_losses.loss_ds2d2_hf.amplifier_ckpt=...)
_base_ = ['../detectors/retinanet/retinanet_r50_fpn_2x_dior.py']

teacher_ckpt = 'work_dirs/retinanet_r101_fpn_2x_dior/epoch_24.pth'
amplifier_cfg = 'configs/ds2d2/ds2d2_hf-amplifier_retina-r101_2x_dior.py'
amplifier_ckpt = 'work_dirs/ds2d2_hf-amplifier_retina-r101_2x_dior/epoch_24.pth'

model = dict(
    _delete_=True,
    _scope_='mmrazor',
    type='mmkd_dense.GTAwareDistill',
    architecture=_base_.model,
    teacher=dict(cfg_file='configs/detectors/retinanet/retinanet_r101_fpn_2x_dior.py'),
    teacher_ckpt=teacher_ckpt,
    teacher_forward='feat',
    distiller=dict(
        type='mmkd_dense.GTAwareDistiller',
        student_recorders=dict(fpn=dict(type='ModuleOutputs', source='neck')),
        teacher_recorders=dict(fpn=dict(type='ModuleOutputs', source='neck')),
        distill_losses=dict(
            # w_LL * sum_l L_LL + w_HF * sum_l L_HF
            loss_ds2d2_explicit=dict(
                type='mmkd_dense.DS2D2ExplicitLoss',
                student_channels=256,
                teacher_channels=256,
                loss_weight_ll=1e-05,
                loss_weight_hf=1e-05),
            # w_FF * L_imp(teacher head on F)
            loss_ds2d2_ff=dict(
                type='mmkd_dense.DS2D2DenseImplicitLoss',
                amplifier='teacher',
                loss_weight=1.0,
                beta=1.0),
            # w_HA * L_imp(HF amplifier on HF(F))
            loss_ds2d2_hf=dict(
                type='mmkd_dense.DS2D2DenseImplicitLoss',
                amplifier='high_frequency',
                amplifier_cfg=amplifier_cfg,
                amplifier_ckpt=amplifier_ckpt,
                loss_weight=1.0,
                beta=1.0)),
        loss_forward_mappings=dict(
            loss_ds2d2_explicit=dict(
                preds_S=dict(from_student=True, recorder='fpn'),
                preds_T=dict(from_student=False, recorder='fpn')),
            loss_ds2d2_ff=dict(
                preds_S=dict(from_student=True, recorder='fpn'),
                preds_T=dict(from_student=False, recorder='fpn')),
            loss_ds2d2_hf=dict(
                preds_S=dict(from_student=True, recorder='fpn'),
                preds_T=dict(from_student=False, recorder='fpn')))))

find_unused_parameters = True
# validates the student, then the teacher (logged as teacher.*)
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
