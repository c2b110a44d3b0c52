# Copyright (c) mmkd_dense contributors. All rights reserved.
# PKD method base (mmrazor PKDLoss, NeurIPS 2022; docs/methods.md, PKD): the
# distillation algorithm without its models. PKD distils the first 4 FPN
# levels (mmrazor configs); loss weight 10 (one-stage detectors; Faster
# R-CNN children set 6, as mmrazor's PKD configs).
# A pair config inherits [<student detector config>, this file] and writes
#   model = dict(_delete_=True, **_base_.distill, architecture=_base_.model,
#                teacher=dict(cfg_file=<teacher detector config>),
#                teacher_ckpt=<teacher .pth>)
# (configs/README.md, "Configs as children").
distill = dict(
    _scope_='mmrazor',
    type='mmkd_dense.GTAwareDistill',
    teacher_forward='feat',
    distiller=dict(
        type='mmkd_dense.GTAwareDistiller',
        student_recorders=dict(fpn=dict(type='ModuleOutputs', source='neck')),
        teacher_recorders=dict(fpn=dict(type='ModuleOutputs', source='neck')),
        distill_losses={
            f'loss_pkd_fpn{i}': dict(type='PKDLoss', loss_weight=10)
            for i in range(4)
        },
        loss_forward_mappings={
            f'loss_pkd_fpn{i}': dict(
                preds_S=dict(from_student=True, recorder='fpn', data_idx=i),
                preds_T=dict(from_student=False, recorder='fpn', data_idx=i))
            for i in range(4)
        }))

find_unused_parameters = True
