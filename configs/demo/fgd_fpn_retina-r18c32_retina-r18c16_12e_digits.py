# Demo DISTILLATION: FGD from the demo teacher into the demo student.
#   python tools/train.py configs/demo/retinanet_r18c32_fpn_12e_digits.py \
#       --work-dir work_dirs/demo/teacher
#   python tools/train.py <this config> --work-dir work_dirs/demo/fgd \
#       --cfg-options model.teacher_ckpt=work_dirs/demo/teacher/epoch_12.pth
_base_ = ['./retinanet_r18c16_fpn_12e_digits.py']

teacher_ckpt = 'work_dirs/demo/teacher/epoch_12.pth'
fgd_loss = dict(
    type='mmkd_dense.FGDLoss', student_channels=32, teacher_channels=64,
    temperature=0.5, alpha_fgd=0.001, beta_fgd=0.0005, gamma_fgd=0.0005,
    lambda_fgd=0.000005)

model = dict(
    _delete_=True,
    _scope_='mmrazor',
    type='mmkd_dense.GTAwareDistill',
    architecture=_base_.model,
    teacher=dict(cfg_file='configs/demo/retinanet_r18c32_fpn_12e_digits.py'),
    teacher_ckpt=teacher_ckpt,
    teacher_forward='feat',
    distiller=dict(
        type='mmkd_dense.GTAwareDistiller',
        student_recorders=dict(fpn=dict(type='ModuleOutputs', source='neck')),
        teacher_recorders=dict(fpn=dict(type='ModuleOutputs', source='neck')),
        distill_losses={f'loss_fgd_fpn{i}': fgd_loss for i in range(3)},
        loss_forward_mappings={
            f'loss_fgd_fpn{i}': dict(
                preds_S=dict(from_student=True, recorder='fpn', data_idx=i),
                preds_T=dict(from_student=False, recorder='fpn', data_idx=i))
            for i in range(3)
        }))

find_unused_parameters = True
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
