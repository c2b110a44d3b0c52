# Copyright (c) mmkd_dense contributors. All rights reserved.
# CWD (Channel-wise Knowledge Distillation, ICCV 2021; mmrazor ChannelWiseDivergence)
# baseline: RetinaNet R101 -> RetinaNet R50, 2x COCO. Per channel, softmax over H*W;
# tau^2 * KL(softmax(T/tau) || softmax(S/tau)) / (N*C), tau=1, weight 10, 5 FPN levels.
#   1. python tools/train.py configs/detectors/retinanet/retinanet_r101_fpn_2x_coco.py
#   2. python tools/train.py {this config} \
#        --cfg-options model.teacher_ckpt=work_dirs/retinanet_r101_fpn_2x_coco/epoch_24.pth
_base_ = ['../../detectors/retinanet/retinanet_r50_fpn_2x_coco.py']

teacher_ckpt = 'work_dirs/retinanet_r101_fpn_2x_coco/epoch_24.pth'

model = dict(
    _delete_=True,
    _scope_='mmrazor',
    type='mmkd_dense.GTAwareDistill',
    architecture=_base_.model,
    teacher=dict(cfg_file='configs/detectors/retinanet/retinanet_r101_fpn_2x_coco.py'),
    teacher_ckpt=teacher_ckpt,
    teacher_forward='feat',
    distiller=dict(
        type='mmkd_dense.GTAwareDistiller',
        student_recorders=dict(fpn=dict(type='ModuleOutputs', source='neck')),
        teacher_recorders=dict(fpn=dict(type='ModuleOutputs', source='neck')),
        distill_losses={
            f'loss_cwd_fpn{i}': dict(type='ChannelWiseDivergence', tau=1, loss_weight=10)
            for i in range(5)
        },
        loss_forward_mappings={
            f'loss_cwd_fpn{i}': dict(
                preds_S=dict(from_student=True, recorder='fpn', data_idx=i),
                preds_T=dict(from_student=False, recorder='fpn', data_idx=i))
            for i in range(5)
        }))

find_unused_parameters = True
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
