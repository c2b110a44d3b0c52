# LD on the embedded digits demo: GFL R18-c32 teacher -> GFL R18-c16 student.
#   python tools/train.py configs/demo/gfl_r18c32_fpn_12e_digits.py \
#       --work-dir work_dirs/demo/gfl_teacher
#   python tools/train.py <this config> --work-dir work_dirs/demo/ld \
#       --cfg-options \
#       model.teacher_ckpt=work_dirs/demo/gfl_teacher/epoch_12.pth
_base_ = ['../../demo/gfl_r18c16_fpn_12e_digits.py']

teacher_ckpt = 'work_dirs/demo/gfl_teacher/epoch_12.pth'

model = dict(
    _delete_=True,
    _scope_='mmrazor',
    type='mmkd_dense.GTAwareDistill',
    architecture=_base_.model,
    teacher=dict(cfg_file='configs/demo/gfl_r18c32_fpn_12e_digits.py'),
    teacher_ckpt=teacher_ckpt,
    teacher_forward='tensor',
    distiller=dict(
        type='mmkd_dense.GTAwareDistiller',
        student_recorders=dict(
            head=dict(type='ModuleOutputs', source='bbox_head')),
        teacher_recorders=dict(
            head=dict(type='ModuleOutputs', source='bbox_head')),
        distill_losses=dict(
            loss_ld=dict(
                type='mmkd_dense.LDLoss',
                loss_ld=dict(type='mmkd_dense.KDKLDivLoss', temperature=10,
                             class_reduction='mean', loss_weight=0.25),
                student_head='bbox_head')),
        loss_forward_mappings=dict(
            loss_ld=dict(
                student_outs=dict(from_student=True, recorder='head'),
                teacher_outs=dict(from_student=False, recorder='head')))))

find_unused_parameters = True
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
