# Copyright (c) mmkd_dense contributors. All rights reserved.
# DS2D2 method base (TGRS 2025, arXiv 2512.04413; docs/methods.md Sec. 2),
# dense heads (RetinaNet, FCOS, GFL): the distillation algorithm without its models.
# Explicit stream (shared 1x1 adapter, Haar LL / high bands, DISW weight) +
# implicit stream (teacher head = full-frequency amplifier, trained HF
# amplifier; KD quality-focal + GIoU). Loss weights: reference ds2d2_*_fpn_2x_dior.py.
# A teacher base (_base_/ds2d2_fpn_<teacher>_<schedule>_<dataset>.py) fills
# in the teacher, the HF amplifier and the dataset's weights; a pair config
# inherits [<student detector config>, <teacher base>] and writes
#   model = dict(_delete_=True, **_base_.distill, architecture=_base_.model)
# (configs/README.md, "Configs as children").
distill = dict(
    _scope_='mmrazor',
    type='mmkd_dense.GTAwareDistill',
    teacher_forward='feat',
    distiller=dict(
        type='mmkd_dense.GTAwareDistiller',
        student_recorders=dict(fpn=dict(type='ModuleOutputs', source='neck')),
        teacher_recorders=dict(fpn=dict(type='ModuleOutputs', source='neck')),
        distill_losses=dict(
            # w_LL * sum_l L_LL + w_HF * sum_l L_HF
            loss_ds2d2_explicit=dict(
                type='mmkd_dense.DS2D2ExplicitLoss',
                student_channels=256,
                teacher_channels=256,
                ll_weight=1e-05,
                hf_weight=1e-05),
            # w_FF * L_imp(teacher head on F)
            loss_ds2d2_ff=dict(
                type='mmkd_dense.DS2D2DenseImplicitLoss',
                amplifier='teacher',
                loss_weight=1.0,
                qfl_beta=1.0),
            # w_HA * L_imp(HF amplifier on HF(F))
            loss_ds2d2_hf=dict(
                type='mmkd_dense.DS2D2DenseImplicitLoss',
                amplifier='high_frequency',
                amplifier_cfg=None,
                amplifier_ckpt=None,
                loss_weight=1.0,
                qfl_beta=1.0)),
        loss_forward_mappings=dict(
            loss_ds2d2_explicit=dict(
                preds_S=dict(from_student=True, recorder='fpn'),
                preds_T=dict(from_student=False, recorder='fpn')),
            loss_ds2d2_ff=dict(
                preds_S=dict(from_student=True, recorder='fpn'),
                preds_T=dict(from_student=False, recorder='fpn')),
            loss_ds2d2_hf=dict(
                preds_S=dict(from_student=True, recorder='fpn'),
                preds_T=dict(from_student=False, recorder='fpn')))))


find_unused_parameters = True
