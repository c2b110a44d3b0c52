# Copyright (c) mmkd_dense contributors. All rights reserved.
# CID + Light-ML method base (arXiv 2411.02861, proposed design;
# docs/methods.md Sec. 3), dense heads with a GIoU box term (RetinaNet,
# FCOS): the distillation algorithm without its models. The student is a
# detector whose head is a Light-ML head (configs/detectors/*/*-lightml_*).
# A pair config inherits [<student detector config>, this file] and writes
#   model = dict(_delete_=True, **_base_.distill, architecture=_base_.model,
#                teacher=dict(cfg_file=<teacher detector config>),
#                teacher_ckpt=<teacher .pth>)
# (configs/README.md, "Configs as children").
cid_loss = dict(
    type='mmkd_dense.CIDLoss', box_kd='giou', cls_weight=1.0, reg_weight=1.0,
    expand=1.5, min_half=1.0)

distill = dict(
    _scope_='mmrazor',
    type='mmkd_dense.GTAwareDistill',
    # teacher backbone + neck; CIDLoss runs the teacher head (no grad) on the
    # recorded neck features
    teacher_forward='feat',
    distiller=dict(
        type='mmkd_dense.GTAwareDistiller',
        # (cls_scores, bbox_preds) of all levels, recorded in bbox_head.loss
        student_recorders=dict(
            head=dict(type='ModuleOutputs', source='bbox_head')),
        teacher_recorders=dict(fpn=dict(type='ModuleOutputs', source='neck')),
        distill_losses=dict(loss_cid=cid_loss),
        loss_forward_mappings=dict(
            loss_cid=dict(
                student_outs=dict(from_student=True, recorder='head'),
                teacher_feats=dict(from_student=False, recorder='fpn')))))

find_unused_parameters = True
