# PKD (mmrazor PKDLoss, NeurIPS 2022) baseline: FCOS R101 -> FCOS R50, 2x COCO.
#   1. python tools/train.py configs/detectors/fcos/fcos_r101_fpn_gn-head_2x_coco.py
#   2. python tools/train.py {this config} \
#        --cfg-options model.teacher_ckpt=work_dirs/fcos_r101_fpn_gn-head_2x_coco/epoch_24.pth
_base_ = [
    '../../detectors/fcos/fcos_r50_fpn_gn-head_2x_coco.py',
    './_base_/pkd_fpn.py'
]

teacher_ckpt = 'work_dirs/fcos_r101_fpn_gn-head_2x_coco/epoch_24.pth'

model = dict(
    _delete_=True,
    **_base_.distill,
    architecture=_base_.model,
    teacher=dict(cfg_file='configs/detectors/fcos/fcos_r101_fpn_gn-head_2x_coco.py'),
    teacher_ckpt=teacher_ckpt)
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
