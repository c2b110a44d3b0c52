# FGD (Focal and Global KD, CVPR 2022) baseline: Faster R-CNN R101 -> Faster R-CNN R50, 2x COCO.
#   1. python tools/train.py configs/detectors/faster_rcnn/faster-rcnn_r101_fpn_2x_coco.py
#   2. python tools/train.py {this config} \
#        --cfg-options model.teacher_ckpt=work_dirs/faster-rcnn_r101_fpn_2x_coco/epoch_24.pth
_base_ = ['../../detectors/faster_rcnn/faster-rcnn_r50_fpn_2x_coco.py']

teacher_ckpt = 'work_dirs/faster-rcnn_r101_fpn_2x_coco/epoch_24.pth'
fgd_loss = dict(
    type='mmkd_dense.FGDLoss', student_channels=256, teacher_channels=256,
    temp=0.5, alpha_fgd=5e-05, beta_fgd=2.5e-05, gamma_fgd=5e-05, lambda_fgd=5e-07)

model = dict(
    _delete_=True,
    _scope_='mmrazor',
    type='mmkd_dense.GTAwareDistill',
    architecture=_base_.model,
    teacher=dict(cfg_file='configs/detectors/faster_rcnn/faster-rcnn_r101_fpn_2x_coco.py'),
    teacher_ckpt=teacher_ckpt,
    teacher_forward='feat',
    distiller=dict(
        type='mmkd_dense.GTAwareDistiller',
        student_recorders=dict(fpn=dict(type='ModuleOutputs', source='neck')),
        teacher_recorders=dict(fpn=dict(type='ModuleOutputs', source='neck')),
        distill_losses={f'loss_fgd_fpn{i}': fgd_loss for i in range(5)},
        loss_forward_mappings={
            f'loss_fgd_fpn{i}': dict(
                preds_S=dict(from_student=True, recorder='fpn', data_idx=i),
                preds_T=dict(from_student=False, recorder='fpn', data_idx=i))
            for i in range(5)
        }))

find_unused_parameters = True
# validates the student, then the teacher (logged as teacher.coco/...)
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
optim_wrapper = dict(clip_grad=dict(max_norm=35, norm_type=2))
