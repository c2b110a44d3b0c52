# CID + Light-ML on the embedded digits demo (many small objects):
# demo teacher RetinaNet R18-c32 -> demo student R18-c16 with a Light-ML head.
#   python tools/train.py configs/demo/retinanet_r18c32_fpn_12e_digits.py \
#       --work-dir work_dirs/demo/teacher
#   python tools/train.py <this config> \
#       --cfg-options model.teacher_ckpt=work_dirs/demo/teacher/epoch_12.pth
_base_ = [
    '../demo/retinanet_r18c16_fpn_12e_digits.py',
    './_base_/cid-lightml_head.py'
]
student = _base_.model
student.bbox_head.type = 'mmkd_dense.LightMLRetinaHead'

teacher_ckpt = 'work_dirs/demo/teacher/epoch_12.pth'
model = dict(
    _delete_=True,
    **_base_.distill,
    architecture=student,
    teacher=dict(cfg_file='configs/demo/retinanet_r18c32_fpn_12e_digits.py'),
    teacher_ckpt=teacher_ckpt)
# validates the student, then the teacher (logged as teacher.<metric>)
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
