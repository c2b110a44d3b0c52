# CrossKD (cross-head KD, CVPR 2024) baseline: GFL R101 -> GFL R50, 1x COCO,
# as CrossKD's configs/crosskd/crosskd_r50_gflv1_r101-2x-ms_fpn_1x_coco.py:
# KD-QFL (beta 1, w 1) + KL (T=1, summed over the bins, w 4) on the edge
# distributions, k=3, SGD lr 0.01. The reference teacher is GFL R101
# multi-scale 2x (44.9 mAP); any checkpoint of the R101 config below fits.
#   1. python tools/train.py configs/detectors/gfl/gfl_r101_fpn_1x_coco.py
#   2. python tools/train.py {this config} --cfg-options \
#        model.teacher_ckpt=work_dirs/gfl_r101_fpn_1x_coco/epoch_12.pth
_base_ = ['../../detectors/gfl/gfl_r50_fpn_1x_coco.py']

teacher_ckpt = 'work_dirs/gfl_r101_fpn_1x_coco/epoch_12.pth'

# k: the student's first k tower convs feed the frozen teacher head's
# remaining convs and predictors (CrossKD's reused_teacher_head_idx); the
# tower recorders sit on conv k-1 (bbox_head.cls_convs.2) and record one
# output per FPN level (record_idx='all' below).
model = dict(
    _delete_=True,
    _scope_='mmrazor',
    type='mmkd_dense.GTAwareDistill',
    architecture=_base_.model,
    teacher=dict(cfg_file='configs/detectors/gfl/gfl_r101_fpn_1x_coco.py'),
    teacher_ckpt=teacher_ckpt,
    # the teacher's head runs (its outputs and tower features are mimicked)
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
                loss_reg_kd=dict(type='mmkd_dense.KDKLDivLoss', temperature=1,
                                 class_reduction='sum', loss_weight=4.0),
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
