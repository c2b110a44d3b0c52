# CrossKD (cross-head KD, CVPR 2024) baseline: on the embedded digits demo,
# RetinaNet R18-c32 teacher -> R18-c16 student with the teacher's head
# width (FPN/head 64 ch: CrossKD runs student features through teacher convs).
# The demo heads have 2 tower convs, so k=1 (the teacher's last conv and
# predictors are reused, as k=3 of 4 in the paper).
#   1. python tools/train.py configs/demo/retinanet_r18c32_fpn_12e_digits.py
#   2. python tools/train.py {this config} \
#        --cfg-options model.teacher_ckpt=work_dirs/demo/teacher/epoch_12.pth
_base_ = [
    '../../demo/retinanet_r18c16_fpn64_12e_digits.py',
    './_base_/crosskd_head.py'
]

teacher_ckpt = 'work_dirs/demo/teacher/epoch_12.pth'

# k = 1 (the demo heads have 2 tower convs): recorders on conv 0
distill = _base_.distill
distill.distiller.student_recorders.cls_tower.source = 'bbox_head.cls_convs.0'
distill.distiller.student_recorders.reg_tower.source = 'bbox_head.reg_convs.0'
distill.distiller.teacher_recorders.cls_tower.source = 'bbox_head.cls_convs.0'
distill.distiller.teacher_recorders.reg_tower.source = 'bbox_head.reg_convs.0'
distill.distiller.distill_losses.loss_crosskd.reused_teacher_head_idx = 1
model = dict(
    _delete_=True,
    **distill,
    architecture=_base_.model,
    teacher=dict(cfg_file='configs/demo/retinanet_r18c32_fpn_12e_digits.py'),
    teacher_ckpt=teacher_ckpt)
# validates the student, then the teacher (logged as teacher.coco/...)
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
