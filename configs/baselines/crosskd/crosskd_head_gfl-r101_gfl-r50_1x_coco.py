# CrossKD (cross-head KD, CVPR 2024) baseline: GFL R101 -> GFL R50, 1x COCO,
# as CrossKD's configs/crosskd/crosskd_r50_gflv1_r101-2x-ms_fpn_1x_coco.py:
# KD-QFL (beta 1, w 1) + KL (T=1, summed over the bins, w 4) on the edge
# distributions, k=3, SGD lr 0.01. The reference teacher is GFL R101
# multi-scale 2x (44.9 mAP); any checkpoint of the R101 config below fits.
#   1. python tools/train.py configs/detectors/gfl/gfl_r101_fpn_1x_coco.py
#   2. python tools/train.py {this config} --cfg-options \
#        model.teacher_ckpt=work_dirs/gfl_r101_fpn_1x_coco/epoch_12.pth
_base_ = [
    '../../detectors/gfl/gfl_r50_fpn_1x_coco.py', './_base_/crosskd_head.py'
]

teacher_ckpt = 'work_dirs/gfl_r101_fpn_1x_coco/epoch_12.pth'

distill = _base_.distill
distill.distiller.distill_losses.loss_crosskd.loss_reg_kd = dict(
    type='mmkd_dense.KDKLDivLoss', temperature=1, class_reduction='sum',
    loss_weight=4.0)
model = dict(
    _delete_=True,
    **distill,
    architecture=_base_.model,
    teacher=dict(cfg_file='configs/detectors/gfl/gfl_r101_fpn_1x_coco.py'),
    teacher_ckpt=teacher_ckpt)
# validates the student, then the teacher (logged as teacher.coco/...)
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
