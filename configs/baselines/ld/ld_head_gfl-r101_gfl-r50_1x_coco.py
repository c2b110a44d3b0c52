# LD (localization distillation, CVPR 2022; mmdet's LDHead) baseline:
# GFL R101 -> GFL R50, 1x COCO (mmdet configs/ld protocol: SGD lr 0.01).
#   1. python tools/train.py configs/detectors/gfl/gfl_r101_fpn_1x_coco.py
#   2. python tools/train.py {this config} \
#        --cfg-options \
#        model.teacher_ckpt=work_dirs/gfl_r101_fpn_1x_coco/epoch_12.pth
_base_ = ['../../detectors/gfl/gfl_r50_fpn_1x_coco.py', './_base_/ld_head.py']

teacher_ckpt = 'work_dirs/gfl_r101_fpn_1x_coco/epoch_12.pth'

model = dict(
    _delete_=True,
    **_base_.distill,
    architecture=_base_.model,
    teacher=dict(cfg_file='configs/detectors/gfl/gfl_r101_fpn_1x_coco.py'),
    teacher_ckpt=teacher_ckpt)
# validates the student, then the teacher (logged as teacher.coco/...)
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
