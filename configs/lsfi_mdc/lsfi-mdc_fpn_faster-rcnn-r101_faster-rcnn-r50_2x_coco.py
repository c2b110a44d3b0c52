# Copyright (c) mmkd_dense contributors. All rights reserved.
# LSFI + MDC-KD (feature-aligned distillation, Li et al., CVIU 262:104519,
# 2025; proposed design of docs/methods.md Sec. 1, see README.md):
# Faster R-CNN R101 -> Faster R-CNN R50, 2x COCO 2017.
#   1. python tools/train.py configs/detectors/faster_rcnn/faster-rcnn_r101_fpn_2x_coco.py
#   2. python tools/train.py configs/lsfi_mdc/lsfi-mdc_fpn_faster-rcnn-r101_faster-rcnn-r50_2x_coco.py \
#        --cfg-options model.teacher_ckpt=work_dirs/faster-rcnn_r101_fpn_2x_coco/epoch_24.pth
#   3. python tools/test.py configs/lsfi_mdc/lsfi-mdc_fpn_faster-rcnn-r101_faster-rcnn-r50_2x_coco.py \
#        work_dirs/lsfi-mdc_fpn_faster-rcnn-r101_faster-rcnn-r50_2x_coco/epoch_24.pth
_base_ = ['../detectors/faster_rcnn/faster-rcnn_r50_fpn_2x_coco.py']

teacher_ckpt = 'work_dirs/faster-rcnn_r101_fpn_2x_coco/epoch_24.pth'
num_levels = 5  # FPN P2-P6, 256 channels in student and teacher
# LSFI weights: two-stage defaults (FGD Faster R-CNN).
lsfi_loss = dict(
    type='mmkd_dense.LSFILoss', channels=256, temp=0.5, alpha=5e-05,
    beta=2.5e-05, gamma=5e-05, pool_sizes=(1, 3, 5))
mdc_loss = dict(
    type='mmkd_dense.MDCLoss', lambda_g=6.0, lambda_l=6.0, window_size=5,
    sigma=1.5, c1=1e-4, c2=9e-4)
# 1x1 student adapters, one per level: distiller connectors, trained with
# the student and dropped when the student is exported.
adapter = dict(
    type='mmkd_dense.FeatureAdapter', in_channels=256, out_channels=256)

model = dict(
    _delete_=True,
    _scope_='mmrazor',
    type='mmkd_dense.GTAwareDistill',
    architecture=_base_.model,
    teacher=dict(cfg_file='configs/detectors/faster_rcnn/faster-rcnn_r101_fpn_2x_coco.py'),
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
# validates the student, then the teacher (logged as teacher.<metric>)
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
optim_wrapper = dict(clip_grad=dict(max_norm=35, norm_type=2))
