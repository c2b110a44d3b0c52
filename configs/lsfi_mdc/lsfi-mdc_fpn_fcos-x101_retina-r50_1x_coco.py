# Copyright (c) mmkd_dense contributors. All rights reserved.
# LSFI + MDC-KD (feature-aligned distillation, Li et al., CVIU 262:104519,
# 2025; proposed design of docs/methods.md Sec. 1, see README.md):
# FCOS X101-64x4d -> RetinaNet R50, 1x COCO 2017.
#   1. python tools/train.py configs/detectors/fcos/fcos_x101-64x4d_fpn_gn-head_2x_coco.py
#   2. python tools/train.py configs/lsfi_mdc/lsfi-mdc_fpn_fcos-x101_retina-r50_1x_coco.py \
#        --cfg-options model.teacher_ckpt=work_dirs/fcos_x101-64x4d_fpn_gn-head_2x_coco/epoch_24.pth
#   3. python tools/test.py configs/lsfi_mdc/lsfi-mdc_fpn_fcos-x101_retina-r50_1x_coco.py \
#        work_dirs/lsfi-mdc_fpn_fcos-x101_retina-r50_1x_coco/epoch_12.pth
_base_ = [
    '../detectors/retinanet/retinanet_r50_fpn_2x_coco.py',
    './_base_/lsfi-mdc_fpn.py'
]

teacher_ckpt = 'work_dirs/fcos_x101-64x4d_fpn_gn-head_2x_coco/epoch_24.pth'
model = dict(
    _delete_=True,
    **_base_.distill,
    architecture=_base_.model,
    teacher=dict(cfg_file='configs/detectors/fcos/fcos_x101-64x4d_fpn_gn-head_2x_coco.py'),
    teacher_ckpt=teacher_ckpt)
# validates the student, then the teacher (logged as teacher.<metric>)
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
optim_wrapper = dict(clip_grad=dict(max_norm=35, norm_type=2))
train_cfg = dict(max_epochs=12)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
         end=500),
    dict(type='MultiStepLR', begin=0, end=12, by_epoch=True,
         milestones=[8, 11], gamma=0.1)
]
