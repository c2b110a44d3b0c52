# PKD (mmrazor PKDLoss, NeurIPS 2022) baseline: RetinaNet R101 -> RetinaNet R50, 2x COCO.
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
        # PKD distils the first 4 FPN levels (mmrazor configs).
        distill_losses={
            f'loss_pkd_fpn{i}': dict(type='PKDLoss', loss_weight=10)
            for i in range(4)
        },
        loss_forward_mappings={
            f'loss_pkd_fpn{i}': dict(
                preds_S=dict(from_student=True, recorder='fpn', data_idx=i),
                preds_T=dict(from_student=False, recorder='fpn', data_idx=i))
            for i in range(4)
        }))

find_unused_parameters = True
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
