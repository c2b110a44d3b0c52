# CrossKD (cross-head KD, CVPR 2024) baseline: FCOS R101 -> FCOS R50, 2x COCO,
# with the KD settings of CrossKD's configs/crosskd/
# crosskd_r50_fcos_r101-2x-ms_caffe_fpn_gn-head_2x_ms_coco.py: KD-QFL
# (beta 1, w 0.4) + IoU loss (w 0.75), k=2. That config trains caffe-style
# backbones on multi-scale 640-800 input; this one pairs the pytorch-style
# FCOS detector configs of configs/detectors/fcos.
#   1. python tools/train.py \
#        configs/detectors/fcos/fcos_r101_fpn_gn-head_2x_coco.py
#   2. python tools/train.py {this config} --cfg-options \
#      model.teacher_ckpt=work_dirs/fcos_r101_fpn_gn-head_2x_coco/epoch_24.pth
_base_ = [
    '../../detectors/fcos/fcos_r50_fpn_gn-head_2x_coco.py',
    './_base_/crosskd_head.py'
]

teacher_ckpt = 'work_dirs/fcos_r101_fpn_gn-head_2x_coco/epoch_24.pth'

# k = 2: the tower recorders sit on conv k-1 = 1
distill = _base_.distill
distill.distiller.student_recorders.cls_tower.source = 'bbox_head.cls_convs.1'
distill.distiller.student_recorders.reg_tower.source = 'bbox_head.reg_convs.1'
distill.distiller.teacher_recorders.cls_tower.source = 'bbox_head.cls_convs.1'
distill.distiller.teacher_recorders.reg_tower.source = 'bbox_head.reg_convs.1'
distill.distiller.distill_losses.loss_crosskd.update(
    reused_teacher_head_idx=2,
    loss_cls_kd=dict(type='mmkd_dense.KDQualityFocalLoss', beta=1.0,
                     loss_weight=0.4),
    loss_reg_kd=dict(type='mmdet.IoULoss', loss_weight=0.75))
model = dict(
    _delete_=True,
    **distill,
    architecture=_base_.model,
    teacher=dict(cfg_file='configs/detectors/fcos/'
                          'fcos_r101_fpn_gn-head_2x_coco.py'),
    teacher_ckpt=teacher_ckpt)
# validates the student, then the teacher (logged as teacher.coco/...)
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
