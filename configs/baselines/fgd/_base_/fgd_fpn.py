# Copyright (c) mmkd_dense contributors. All rights reserved.
# FGD method base (Focal and Global KD, CVPR 2022; docs/methods.md, FGD):
# the distillation algorithm without its models. One-stage defaults
# (RetinaNet, GFL: FGD's configs): FPN P3-P7, 256 channels.
# A pair config inherits [<student detector config>, this file] and writes
#   model = dict(_delete_=True, **_base_.distill, architecture=<student>,
#                teacher=dict(cfg_file=<teacher detector config>),
#                teacher_ckpt=<teacher .pth>)
# (configs/README.md, "Configs as children").
fgd_loss = dict(
    type='mmkd_dense.FGDLoss', student_channels=256, teacher_channels=256,
    temperature=0.5, alpha_fgd=0.001, beta_fgd=0.0005, gamma_fgd=0.0005,
    lambda_fgd=5e-06)

distill = dict(
    _scope_='mmrazor',
    type='mmkd_dense.GTAwareDistill',
    teacher_forward='feat',
    distiller=dict(
        type='mmkd_dense.GTAwareDistiller',
        student_recorders=dict(fpn=dict(type='ModuleOutputs', source='neck')),
        teacher_recorders=dict(fpn=dict(type='ModuleOutputs', source='neck')),
        distill_losses={f'loss_fgd_fpn{i}': fgd_loss for i in range(5)},
        loss_forward_mappings={
            f'loss_fgd_fpn{i}': dict(
                preds_S=dict(from_student=True, recorder='fpn', data_idx=i),
                preds_T=dict(from_student=False, recorder='fpn', data_idx=i))
            for i in range(5)
        }))

find_unused_parameters = True
