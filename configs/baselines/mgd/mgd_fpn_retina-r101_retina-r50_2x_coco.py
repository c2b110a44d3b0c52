# Copyright (c) mmkd_dense contributors. All rights reserved.
# MGD (Masked Generative Distillation, ECCV 2022; mmrazor MGDConnector + MGDLoss)
# baseline: RetinaNet R101 -> RetinaNet R50, 2x COCO. On each of the 5 FPN levels the
# student map is randomly masked (ratio 0.65) and a conv3x3-ReLU-conv3x3 generator
# (the connector, training only) must regenerate the teacher map:
# alpha * sum((G(mask(S)) - T)^2) / N, alpha = 2e-5.
# As in mmrazor's MGD config, the student's neck and head start from the teacher's
# weights ("inheriting" init, same FPN/head shapes for R101 and R50).
#   1. python tools/train.py configs/detectors/retinanet/retinanet_r101_fpn_2x_coco.py
#   2. python tools/train.py {this config} --cfg-options model.teacher_ckpt=T
#      (T = work_dirs/retinanet_r101_fpn_2x_coco/epoch_24.pth; or edit teacher_ckpt below)
_base_ = ['../../detectors/retinanet/retinanet_r50_fpn_2x_coco.py']

teacher_ckpt = 'work_dirs/retinanet_r101_fpn_2x_coco/epoch_24.pth'

model = dict(
    _delete_=True,
    _scope_='mmrazor',
    type='mmkd_dense.GTAwareDistill',
    architecture=_base_.model,
    teacher=dict(cfg_file='configs/detectors/retinanet/retinanet_r101_fpn_2x_coco.py'),
    teacher_ckpt=teacher_ckpt,
    # MGD's inheriting init: neck and head copied from the loaded
    # teacher, so they follow model.teacher_ckpt wherever it is set
    student_init_from_teacher=['neck', 'bbox_head'],
    teacher_forward='feat',
    distiller=dict(
        type='mmkd_dense.GTAwareDistiller',
        student_recorders=dict(fpn=dict(type='ModuleOutputs', source='neck')),
        teacher_recorders=dict(fpn=dict(type='ModuleOutputs', source='neck')),
        connectors={
            f's_fpn{i}_connector': dict(
                type='MGDConnector', student_channels=256, teacher_channels=256,
                lambda_mgd=0.65)
            for i in range(5)
        },
        distill_losses={
            f'loss_mgd_fpn{i}': dict(type='MGDLoss', alpha_mgd=2e-05)
            for i in range(5)
        },
        loss_forward_mappings={
            f'loss_mgd_fpn{i}': dict(
                preds_S=dict(from_student=True, recorder='fpn', data_idx=i,
                             connector=f's_fpn{i}_connector'),
                preds_T=dict(from_student=False, recorder='fpn', data_idx=i))
            for i in range(5)
        }))

find_unused_parameters = True
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
