# Copyright (c) mmkd_dense contributors. All rights reserved.
# LSFI + MDC-KD method base (Li et al., CVIU 262:104519, 2025; docs/methods.md
# Sec. 1): the distillation algorithm without its models. One-stage defaults
# (RetinaNet, GFL): FPN P3-P7, 256 channels in student and teacher.
# A pair config inherits [<student detector config>, this file] and writes
#   model = dict(_delete_=True, **_base_.distill, architecture=_base_.model,
#                teacher=dict(cfg_file=<teacher detector config>),
#                teacher_ckpt=<teacher .pth>)
# (configs/README.md, "Configs as children").
num_levels = 5
# LSFI weights: one-stage defaults (FGD RetinaNet/GFL).
lsfi_loss = dict(
    type='mmkd_dense.LSFILoss', channels=256, temperature=0.5, alpha=0.001,
    beta=0.0005, gamma=0.0005, pool_sizes=(1, 3, 5))
mdc_loss = dict(
    type='mmkd_dense.MDCLoss', global_weight=6.0, local_weight=6.0,
    window_size=5, sigma=1.5, c1=1e-4, c2=9e-4)
# 1x1 student adapters, one per level: distiller connectors, trained with
# the student and dropped when the student is exported.
adapter = dict(
    type='mmkd_dense.FeatureAdapter', in_channels=256, out_channels=256)

distill = dict(
    _scope_='mmrazor',
    type='mmkd_dense.GTAwareDistill',
    teacher_forward='feat',
    distiller=dict(
        type='mmkd_dense.GTAwareDistiller',
        student_recorders=dict(fpn=dict(type='ModuleOutputs', source='neck')),
        teacher_recorders=dict(fpn=dict(type='ModuleOutputs', source='neck')),
        connectors={f'adapter_fpn{i}': adapter
                    for i in range(num_levels)},
        distill_losses=dict(
            **{f'loss_lsfi_fpn{i}': lsfi_loss for i in range(num_levels)},
            **{f'loss_mdc_fpn{i}': mdc_loss for i in range(num_levels)}),
        loss_forward_mappings={
            f'loss_{name}_fpn{i}': dict(
                preds_S=dict(from_student=True, recorder='fpn', data_idx=i,
                             connector=f'adapter_fpn{i}'),
                preds_T=dict(from_student=False, recorder='fpn', data_idx=i))
            for name in ('lsfi', 'mdc') for i in range(num_levels)
        }))

find_unused_parameters = True
