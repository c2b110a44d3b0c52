# CID + Light-ML: RetinaNet R101 -> RetinaNet R18 (Light-ML head), VisDrone
# drone protocol. Box KD: 1 - GIoU of the student/teacher boxes decoded from
# the same anchor (CrossKD's RetinaNet choice, weight 1).
#   1. python tools/train.py configs/detectors/retinanet/retinanet_r101_fpn_15e_visdrone.py
#   2. python tools/train.py {this config} \
#        --cfg-options model.teacher_ckpt=work_dirs/retinanet_r101_fpn_15e_visdrone/epoch_15.pth
_base_ = [
    '../detectors/retinanet/retinanet-lightml_r18_fpn_15e_visdrone.py',
    './_base_/cid-lightml_head.py'
]

teacher_ckpt = 'work_dirs/retinanet_r101_fpn_15e_visdrone/epoch_15.pth'
model = dict(
    _delete_=True,
    **_base_.distill,
    architecture=_base_.model,
    teacher=dict(
        cfg_file='configs/detectors/retinanet/retinanet_r101_fpn_15e_visdrone.py'),
    teacher_ckpt=teacher_ckpt)
# validates the student, then the teacher (logged as teacher.<metric>)
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
