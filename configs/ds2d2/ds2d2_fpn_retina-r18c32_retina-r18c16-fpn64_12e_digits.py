# Copyright (c) mmkd_dense contributors. All rights reserved.
# DS2D2 on the embedded digits demo (CPU-sized): demo teacher RetinaNet
# R18-c32 (FPN 64 ch) -> RetinaNet R18-c16 with a 64-ch FPN (the implicit
# stream runs the teacher head on student features, so the FPN widths must
# match, as in the real R101 -> R18 pairs). Loss weights: RetinaNet DIOR.
#   1. python tools/train.py configs/demo/retinanet_r18c32_fpn_12e_digits.py \
#        --work-dir work_dirs/demo/teacher
#   2. python tools/train.py configs/ds2d2/ds2d2_hf-amplifier_retina-r18c32_12e_digits.py \
#        --work-dir work_dirs/demo/ds2d2_hf_amplifier
#   3. python tools/train.py configs/ds2d2/ds2d2_fpn_retina-r18c32_retina-r18c16-fpn64_12e_digits.py \
#        --work-dir work_dirs/demo/ds2d2
#   4. python tools/test.py configs/ds2d2/ds2d2_fpn_retina-r18c32_retina-r18c16-fpn64_12e_digits.py \
#        work_dirs/demo/ds2d2/epoch_12.pth
#   no-KD baseline: configs/demo/retinanet_r18c16_fpn64_12e_digits.py
_base_ = ['../demo/retinanet_r18c16_fpn64_12e_digits.py']

teacher_ckpt = 'work_dirs/demo/teacher/epoch_12.pth'
amplifier_cfg = 'configs/ds2d2/ds2d2_hf-amplifier_retina-r18c32_12e_digits.py'
amplifier_ckpt = 'work_dirs/demo/ds2d2_hf_amplifier/epoch_12.pth'

model = dict(
    _delete_=True,
    _scope_='mmrazor',
    type='mmkd_dense.GTAwareDistill',
    architecture=_base_.model,
    teacher=dict(cfg_file='configs/demo/retinanet_r18c32_fpn_12e_digits.py'),
    teacher_ckpt=teacher_ckpt,
    teacher_forward='feat',
    distiller=dict(
        type='mmkd_dense.GTAwareDistiller',
        student_recorders=dict(fpn=dict(type='ModuleOutputs', source='neck')),
        teacher_recorders=dict(fpn=dict(type='ModuleOutputs', source='neck')),
        distill_losses=dict(
            loss_ds2d2_explicit=dict(
                type='mmkd_dense.DS2D2ExplicitLoss',
                student_channels=64,
                teacher_channels=64,
                loss_weight_ll=1e-05,
                loss_weight_hf=1e-05),
            loss_ds2d2_ff=dict(
                type='mmkd_dense.DS2D2DenseImplicitLoss',
                amplifier='teacher',
                loss_weight=1.0,
                beta=1.0),
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
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
