# Copyright (c) mmkd_dense contributors. All rights reserved.
# LSFI + MDC-KD on the embedded digits demo (CPU-sized): demo teacher RetinaNet
# R18-c32 (FPN 64 ch) -> demo student RetinaNet R18-c16 (FPN 32 ch), P3-P5.
# The student's 32-channel levels are mapped to the teacher's 64 channels by
# per-level FeatureAdapter connectors (dropped when the student is exported).
#   1. python tools/train.py configs/demo/retinanet_r18c32_fpn_12e_digits.py \
#        --work-dir work_dirs/demo/teacher
#   2. python tools/train.py configs/lsfi_mdc/lsfi-mdc_fpn_retina-r18c32_retina-r18c16_12e_digits.py \
#        --work-dir work_dirs/demo/lsfi_mdc \
#        --cfg-options model.teacher_ckpt=work_dirs/demo/teacher/epoch_12.pth
#   3. python tools/test.py configs/lsfi_mdc/lsfi-mdc_fpn_retina-r18c32_retina-r18c16_12e_digits.py \
#        work_dirs/demo/lsfi_mdc/epoch_12.pth
_base_ = ['../demo/retinanet_r18c16_fpn_12e_digits.py']

teacher_ckpt = 'work_dirs/demo/teacher/epoch_12.pth'
num_levels = 3  # FPN P3-P5
# LSFI weights: one-stage defaults (FGD RetinaNet).
lsfi_loss = dict(
    type='mmkd_dense.LSFILoss', channels=64, temperature=0.5, alpha=0.001,
    beta=0.0005, gamma=0.0005, pool_sizes=(1, 3, 5))
mdc_loss = dict(
    type='mmkd_dense.MDCLoss', global_weight=6.0, local_weight=6.0,
    window_size=5, sigma=1.5, c1=1e-4, c2=9e-4)
adapter = dict(
    type='mmkd_dense.FeatureAdapter', in_channels=32, out_channels=64)

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
        connectors={f'adapter_fpn{i}': adapter
                    for i in range(num_levels)},
        distill_losses=dict(
            **{f'loss_lsfi_fpn{i}': lsfi_loss for i in range(num_levels)},
            **{f'loss_mdc_fpn{i}': mdc_loss for i in range(num_levels)}),
        loss_forward_mappings={
            f'loss_{name}_fpn{i}': dict(
                preds_S=dict(from_student=True, recorder='fpn', data_idx=i,
                             connector=f'adapter_fpn{i}'),
                preds_T=dict(from_student=False, recorder='fpn', data_idx=i))
            for name in ('lsfi', 'mdc') for i in range(num_levels)
        }))

find_unused_parameters = True
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
