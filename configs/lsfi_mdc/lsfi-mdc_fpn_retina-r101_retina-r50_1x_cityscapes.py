# Copyright (c) mmkd_dense contributors. All rights reserved.
# LSFI + MDC-KD (feature-aligned distillation, Li et al., CVIU 262:104519,
# 2025; proposed design of docs/methods.md Sec. 1, see README.md):
# RetinaNet R101 -> RetinaNet R50, 1x Cityscapes.
#   1. python tools/train.py configs/detectors/retinanet/retinanet_r101_fpn_1x_cityscapes.py
#   2. python tools/train.py configs/lsfi_mdc/lsfi-mdc_fpn_retina-r101_retina-r50_1x_cityscapes.py \
#        --cfg-options model.teacher_ckpt=work_dirs/retinanet_r101_fpn_1x_cityscapes/epoch_8.pth
#   3. python tools/test.py configs/lsfi_mdc/lsfi-mdc_fpn_retina-r101_retina-r50_1x_cityscapes.py \
#        work_dirs/lsfi-mdc_fpn_retina-r101_retina-r50_1x_cityscapes/epoch_8.pth
_base_ = [
    '../detectors/retinanet/retinanet_r50_fpn_1x_cityscapes.py',
    './_base_/lsfi-mdc_fpn.py'
]

teacher_ckpt = 'work_dirs/retinanet_r101_fpn_1x_cityscapes/epoch_8.pth'
model = dict(
    _delete_=True,
    **_base_.distill,
    architecture=_base_.model,
    teacher=dict(cfg_file='configs/detectors/retinanet/retinanet_r101_fpn_1x_cityscapes.py'),
    teacher_ckpt=teacher_ckpt)
# validates the student, then the teacher (logged as teacher.<metric>)
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
optim_wrapper = dict(clip_grad=dict(max_norm=35, norm_type=2))
