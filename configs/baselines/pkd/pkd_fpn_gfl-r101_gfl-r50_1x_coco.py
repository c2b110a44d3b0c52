# PKD (mmrazor PKDLoss, NeurIPS 2022) baseline: GFL R101 -> GFL R50, 1x COCO.
#   1. python tools/train.py configs/detectors/gfl/gfl_r101_fpn_1x_coco.py
#   2. python tools/train.py {this config} \
#        --cfg-options model.teacher_ckpt=work_dirs/gfl_r101_fpn_1x_coco/epoch_12.pth
_base_ = [
    '../../detectors/gfl/gfl_r50_fpn_1x_coco.py',
    './_base_/pkd_fpn.py'
]

teacher_ckpt = 'work_dirs/gfl_r101_fpn_1x_coco/epoch_12.pth'

model = dict(
    _delete_=True,
    **_base_.distill,
    architecture=_base_.model,
    teacher=dict(cfg_file='configs/detectors/gfl/gfl_r101_fpn_1x_coco.py'),
    teacher_ckpt=teacher_ckpt)
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
