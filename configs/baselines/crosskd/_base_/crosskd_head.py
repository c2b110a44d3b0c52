# Copyright (c) mmkd_dense contributors. All rights reserved.
# CrossKD method base (cross-head KD, CVPR 2024; docs/methods.md, CrossKD):
# the distillation algorithm without its models, with CrossKD's RetinaNet
# settings: k = reused_teacher_head_idx = 3, KD-QFL (beta 1, w 1) + GIoU (w 1).
# The student's first k tower convs feed the frozen teacher head's remaining
# convs and predictors; the tower recorders sit on conv k-1
# (bbox_head.cls_convs.<k-1>) and record one output per FPN level
# (record_idx='all'); the teacher's head runs (teacher_forward='tensor') and
# its outputs are recorded on bbox_head.
# A pair config inherits [<student detector config>, this file] and writes
#   model = dict(_delete_=True, **distill, architecture=_base_.model,
#                teacher=dict(cfg_file=<teacher detector config>),
#                teacher_ckpt=<teacher .pth>)
# after changing what differs in `distill = _base_.distill` (another k: the
# four tower recorder sources and reused_teacher_head_idx; other KD losses:
# loss_cls_kd / loss_reg_kd of distiller.distill_losses.loss_crosskd).
distill = dict(
    _scope_='mmrazor',
    type='mmkd_dense.GTAwareDistill',
    teacher_forward='tensor',
    distiller=dict(
        type='mmkd_dense.GTAwareDistiller',
        student_recorders=dict(
            cls_tower=dict(type='ModuleOutputs',
                           source='bbox_head.cls_convs.2'),
            reg_tower=dict(type='ModuleOutputs',
                           source='bbox_head.reg_convs.2')),
        teacher_recorders=dict(
            cls_tower=dict(type='ModuleOutputs',
                           source='bbox_head.cls_convs.2'),
            reg_tower=dict(type='ModuleOutputs',
                           source='bbox_head.reg_convs.2'),
            head=dict(type='ModuleOutputs', source='bbox_head')),
        distill_losses=dict(
            loss_crosskd=dict(
                type='mmkd_dense.CrossKDLoss',
                reused_teacher_head_idx=3,
                loss_cls_kd=dict(type='mmkd_dense.KDQualityFocalLoss',
                                 beta=1.0, loss_weight=1.0),
                loss_reg_kd=dict(type='mmdet.GIoULoss', loss_weight=1.0),
                student_head='bbox_head',
                teacher_head='bbox_head')),
        loss_forward_mappings=dict(
            loss_crosskd=dict(
                student_cls_feats=dict(
                    from_student=True, recorder='cls_tower', record_idx='all'),
                student_reg_feats=dict(
                    from_student=True, recorder='reg_tower', record_idx='all'),
                teacher_cls_feats=dict(
                    from_student=False, recorder='cls_tower',
                    record_idx='all'),
                teacher_reg_feats=dict(
                    from_student=False, recorder='reg_tower',
                    record_idx='all'),
                teacher_outs=dict(from_student=False, recorder='head')))))

find_unused_parameters = True
