# Copyright (c) mmkd_dense contributors. All rights reserved.
# LD method base (localization distillation, CVPR 2022; mmdet's LDHead;
# docs/methods.md, LD): the distillation algorithm without its models. The
# teacher's GFL head runs (teacher_forward='tensor') and both heads' outputs
# are recorded on bbox_head; KL(T=10)*T^2 on the edge distributions of the
# student head's positive priors (ATSS), weight 0.25 (mmdet configs/ld).
# A pair config inherits [<student GFL detector config>, this file] and writes
#   model = dict(_delete_=True, **_base_.distill, architecture=_base_.model,
#                teacher=dict(cfg_file=<teacher GFL detector config>),
#                teacher_ckpt=<teacher .pth>)
distill = dict(
    _scope_='mmrazor',
    type='mmkd_dense.GTAwareDistill',
    # LD needs the teacher head's edge distributions
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
                # mmdet configs/ld: KnowledgeDistillationKLDivLoss T=10, w 0.25
                loss_ld=dict(type='mmkd_dense.KDKLDivLoss', temperature=10,
                             class_reduction='mean', loss_weight=0.25),
                # the student head whose positives (ATSS) get LD
                student_head='bbox_head')),
        loss_forward_mappings=dict(
            loss_ld=dict(
                student_outs=dict(from_student=True, recorder='head'),
                teacher_outs=dict(from_student=False, recorder='head')))))

find_unused_parameters = True
