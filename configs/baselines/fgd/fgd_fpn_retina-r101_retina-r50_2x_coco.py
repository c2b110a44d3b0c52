# FGD (Focal and Global KD, CVPR 2022) baseline: RetinaNet R101 -> RetinaNet R50, 2x COCO.
#   1. python tools/train.py configs/detectors/retinanet/retinanet_r101_fpn_2x_coco.py
#   2. python tools/train.py {this config} --cfg-options model.teacher_ckpt=T
#      (T = work_dirs/retinanet_r101_fpn_2x_coco/epoch_24.pth; or edit teacher_ckpt below)
# As in FGD's config (init_student=True), the student's neck and head start from
# the teacher's weights (same shapes for R101 and R50); the backbone keeps its
# own (ImageNet) initialisation. FGD README and docs/methods.md: FGD.
_base_ = [
    '../../detectors/retinanet/retinanet_r50_fpn_2x_coco.py',
    './_base_/fgd_fpn.py'
]

teacher_ckpt = 'work_dirs/retinanet_r101_fpn_2x_coco/epoch_24.pth'

model = dict(
    _delete_=True,
    **_base_.distill,
    architecture=_base_.model,
    teacher=dict(cfg_file='configs/detectors/retinanet/retinanet_r101_fpn_2x_coco.py'),
    teacher_ckpt=teacher_ckpt,
    # FGD's init_student: copied from the loaded teacher, so they
    # follow model.teacher_ckpt wherever it is set
    student_init_from_teacher=['neck', 'bbox_head'])
# validates the student, then the teacher (logged as teacher.coco/...)
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
optim_wrapper = dict(clip_grad=dict(max_norm=35, norm_type=2))
