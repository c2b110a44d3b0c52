# PKD (mmrazor PKDLoss, NeurIPS 2022) baseline: RetinaNet R101 -> RetinaNet R50, 2x COCO.
#   1. python tools/train.py configs/detectors/retinanet/retinanet_r101_fpn_2x_coco.py
#   2. python tools/train.py {this config} \
#        --cfg-options model.teacher_ckpt=work_dirs/retinanet_r101_fpn_2x_coco/epoch_24.pth
_base_ = [
    '../../detectors/retinanet/retinanet_r50_fpn_2x_coco.py',
    './_base_/pkd_fpn.py'
]

teacher_ckpt = 'work_dirs/retinanet_r101_fpn_2x_coco/epoch_24.pth'

model = dict(
    _delete_=True,
    **_base_.distill,
    architecture=_base_.model,
    teacher=dict(cfg_file='configs/detectors/retinanet/retinanet_r101_fpn_2x_coco.py'),
    teacher_ckpt=teacher_ckpt)
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
