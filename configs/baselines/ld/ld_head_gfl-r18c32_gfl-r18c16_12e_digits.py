# LD on the embedded digits demo: GFL R18-c32 teacher -> GFL R18-c16 student.
#   python tools/train.py configs/demo/gfl_r18c32_fpn_12e_digits.py \
#       --work-dir work_dirs/demo/gfl_teacher
#   python tools/train.py <this config> --work-dir work_dirs/demo/ld \
#       --cfg-options \
#       model.teacher_ckpt=work_dirs/demo/gfl_teacher/epoch_12.pth
_base_ = ['../../demo/gfl_r18c16_fpn_12e_digits.py', './_base_/ld_head.py']

teacher_ckpt = 'work_dirs/demo/gfl_teacher/epoch_12.pth'

model = dict(
    _delete_=True,
    **_base_.distill,
    architecture=_base_.model,
    teacher=dict(cfg_file='configs/demo/gfl_r18c32_fpn_12e_digits.py'),
    teacher_ckpt=teacher_ckpt)
# validates the student, then the teacher (logged as teacher.coco/...)
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
