# CID + Light-ML + FGD on the embedded digits demo: the CID head KD of
# cid-lightml_head_retina-r18c32_retina-r18c16_12e_digits.py plus FGD on
# P3-P5 (student FPN 32 ch aligned to the teacher's 64 inside FGDLoss).
_base_ = [
    '../demo/retinanet_r18c16_fpn_12e_digits.py',
    './_base_/cid-lightml-fgd_head-fpn_digits.py'
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
