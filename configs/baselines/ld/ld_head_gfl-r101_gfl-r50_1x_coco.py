# LD (localization distillation, CVPR 2022; mmdet's LDHead) baseline:
# GFL R101 -> GFL R50, 1x COCO (mmdet configs/ld protocol: SGD lr 0.01).
#   1. python tools/train.py configs/detectors/gfl/gfl_r101_fpn_1x_coco.py
#   2. python tools/train.py {this config} \
#        --cfg-options \
#        model.teacher_ckpt=work_dirs/gfl_r101_fpn_1x_coco/epoch_12.pth
_base_ = ['../../detectors/gfl/gfl_r50_fpn_1x_coco.py']

teacher_ckpt = 'work_dirs/gfl_r101_fpn_1x_coco/epoch_12.pth'

model = dict(
    _delete_=True,
    _scope_='mmrazor',
    type='mmkd_dense.GTAwareDistill',
    architecture=_base_.model,
    teacher=dict(cfg_file='configs/detectors/gfl/gfl_r101_fpn_1x_coco.py'),
    teacher_ckpt=teacher_ckpt,
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
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
