# Copyright (c) mmkd_dense contributors. All rights reserved.
# LSFI + MDC-KD (feature-aligned distillation, Li et al., CVIU 262:104519,
# 2025; proposed design of docs/methods.md Sec. 1, see README.md):
# GFL R101 -> GFL R50, 1x VOC 07+12.
#   1. python tools/train.py configs/detectors/gfl/gfl_r101_fpn_1x_voc0712.py
#   2. python tools/train.py configs/lsfi_mdc/lsfi-mdc_fpn_gfl-r101_gfl-r50_1x_voc0712.py \
#        --cfg-options model.teacher_ckpt=work_dirs/gfl_r101_fpn_1x_voc0712/epoch_4.pth
#   3. python tools/test.py configs/lsfi_mdc/lsfi-mdc_fpn_gfl-r101_gfl-r50_1x_voc0712.py \
#        work_dirs/lsfi-mdc_fpn_gfl-r101_gfl-r50_1x_voc0712/epoch_4.pth
_base_ = [
    '../detectors/gfl/gfl_r50_fpn_1x_voc0712.py',
    './_base_/lsfi-mdc_fpn.py'
]

teacher_ckpt = 'work_dirs/gfl_r101_fpn_1x_voc0712/epoch_4.pth'
model = dict(
    _delete_=True,
    **_base_.distill,
    architecture=_base_.model,
    teacher=dict(cfg_file='configs/detectors/gfl/gfl_r101_fpn_1x_voc0712.py'),
    teacher_ckpt=teacher_ckpt)
# validates the student, then the teacher (logged as teacher.<metric>)
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
optim_wrapper = dict(clip_grad=dict(max_norm=35, norm_type=2))
