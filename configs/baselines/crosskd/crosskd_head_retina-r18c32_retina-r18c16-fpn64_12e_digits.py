# CrossKD (cross-head KD, CVPR 2024) baseline: on the embedded digits demo,
# RetinaNet R18-c32 teacher -> R18-c16 student with the teacher's head
# width (FPN/head 64 ch: CrossKD runs student features through teacher convs).
# The demo heads have 2 tower convs, so k=1 (the teacher's last conv and
# predictors are reused, as k=3 of 4 in the paper).
#   1. python tools/train.py configs/demo/retinanet_r18c32_fpn_12e_digits.py
#   2. python tools/train.py {this config} \
#        --cfg-options model.teacher_ckpt=work_dirs/demo/teacher/epoch_12.pth
_base_ = ['../../demo/retinanet_r18c16_fpn64_12e_digits.py']

teacher_ckpt = 'work_dirs/demo/teacher/epoch_12.pth'

# k: the student's first k tower convs feed the frozen teacher head's
# remaining convs and predictors (CrossKD's reused_teacher_head_idx); the
# tower recorders sit on conv k-1 (bbox_head.cls_convs.0) and record one
# output per FPN level (record_idx='all' below).
model = dict(
    _delete_=True,
    _scope_='mmrazor',
    type='mmkd_dense.GTAwareDistill',
    architecture=_base_.model,
    teacher=dict(cfg_file='configs/demo/retinanet_r18c32_fpn_12e_digits.py'),
    teacher_ckpt=teacher_ckpt,
    # the teacher's head runs (its outputs and tower features are mimicked)
    teacher_forward='tensor',
    distiller=dict(
        type='mmkd_dense.GTAwareDistiller',
        student_recorders=dict(
            cls_tower=dict(type='ModuleOutputs',
                           source='bbox_head.cls_convs.0'),
            reg_tower=dict(type='ModuleOutputs',
                           source='bbox_head.reg_convs.0')),
        teacher_recorders=dict(
            cls_tower=dict(type='ModuleOutputs',
                           source='bbox_head.cls_convs.0'),
            reg_tower=dict(type='ModuleOutputs',
                           source='bbox_head.reg_convs.0'),
            head=dict(type='ModuleOutputs', source='bbox_head')),
        distill_losses=dict(
            loss_crosskd=dict(
                type='mmkd_dense.CrossKDLoss',
                reused_teacher_head_idx=1,
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
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
