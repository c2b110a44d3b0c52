# CrossKD (cross-head KD, CVPR 2024) baseline: RetinaNet R101 -> R50, 2x COCO,
# as CrossKD's configs/crosskd/crosskd_r50_retinanet_r101_fpn_2x_coco.py:
# KD-QFL (beta 1, w 1) + GIoU (w 1), k=3, SGD lr 0.01.
#   1. python tools/train.py \
#        configs/detectors/retinanet/retinanet_r101_fpn_2x_coco.py
#   2. python tools/train.py {this config} --cfg-options \
#        model.teacher_ckpt=work_dirs/retinanet_r101_fpn_2x_coco/epoch_24.pth
_base_ = [
    '../../detectors/retinanet/retinanet_r50_fpn_2x_coco.py',
    './_base_/crosskd_head.py'
]

teacher_ckpt = 'work_dirs/retinanet_r101_fpn_2x_coco/epoch_24.pth'

model = dict(
    _delete_=True,
    **_base_.distill,
    architecture=_base_.model,
    teacher=dict(cfg_file='configs/detectors/retinanet/'
                          'retinanet_r101_fpn_2x_coco.py'),
    teacher_ckpt=teacher_ckpt)
# validates the student, then the teacher (logged as teacher.coco/...)
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
