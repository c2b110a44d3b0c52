# Copyright (c) mmkd_dense contributors. All rights reserved.
# DS2D2 method base (TGRS 2025, arXiv 2512.04413; docs/methods.md Sec. 2),
# Faster R-CNN (RoI head): the distillation algorithm without its models.
# Explicit stream (shared 1x1 adapter, Haar LL / high bands, DISW weight) +
# implicit stream (teacher head = full-frequency amplifier, trained HF
# amplifier; KL on sampled RoIs). Loss weights: reference ds2d2_faster-rcnn_r*_fpn_2x_dior.py.
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
        student_recorders=dict(
            fpn=dict(type='ModuleOutputs', source='neck'),
            # the student's training proposals (inputs of its RoI head loss)
            rpn_results=dict(
                type='MethodInputs',
                source='mmdet.models.roi_heads.standard_roi_head.'
                'StandardRoIHead.loss')),
        teacher_recorders=dict(fpn=dict(type='ModuleOutputs', source='neck')),
        distill_losses=dict(
            # w_LL * sum_l L_LL + w_HF * sum_l L_HF
            loss_ds2d2_explicit=dict(
                type='mmkd_dense.DS2D2ExplicitLoss',
                student_channels=256,
                teacher_channels=256,
                ll_weight=0.5,
                hf_weight=0.5),
            # w_FF * L_imp(teacher head on F)
            loss_ds2d2_ff=dict(
                type='mmkd_dense.DS2D2RoIImplicitLoss',
                amplifier='teacher',
                loss_weight=1e-05,
                temperature=3.0,
                cls_weight=0.5,
                # reference quirk: KL x #sampled RoIs (see README)
                avg_factor_as_weight=True),
            # w_HA * L_imp(HF amplifier on HF(F))
            loss_ds2d2_hf=dict(
                type='mmkd_dense.DS2D2RoIImplicitLoss',
                amplifier='high_frequency',
                amplifier_cfg=None,
                amplifier_ckpt=None,
                loss_weight=1e-05,
                temperature=3.0,
                cls_weight=0.5,
                # reference quirk: KL x #sampled RoIs (see README)
                avg_factor_as_weight=True)),
        loss_forward_mappings=dict(
            loss_ds2d2_explicit=dict(
                preds_S=dict(from_student=True, recorder='fpn'),
                preds_T=dict(from_student=False, recorder='fpn')),
            loss_ds2d2_ff=dict(
                preds_S=dict(from_student=True, recorder='fpn'),
                preds_T=dict(from_student=False, recorder='fpn'),
                rpn_results=dict(
                    from_student=True, recorder='rpn_results', data_idx=1)),
            loss_ds2d2_hf=dict(
                preds_S=dict(from_student=True, recorder='fpn'),
                preds_T=dict(from_student=False, recorder='fpn'),
                rpn_results=dict(
                    from_student=True, recorder='rpn_results', data_idx=1)))))


find_unused_parameters = True
