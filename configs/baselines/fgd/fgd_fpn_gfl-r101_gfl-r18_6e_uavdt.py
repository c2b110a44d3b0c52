# FGD (Focal and Global KD, CVPR 2022) baseline: GFL R101 -> GFL R18, UAVDT
# drone protocol (1024x540, RepeatDataset x5, 6 epochs, steps 4/5, lr 0.01,
# grad-clip 10, 500 dets; metric uavdt/AP70 and uavdt/AP). The reference
# for configs/cid_lightml/*_6e_uavdt.py (same pair, plain GFL R18 student).
# FGD settings as fgd_fpn_gfl-r101_gfl-r50_1x_coco.py (GFL defaults).
#   1. python tools/train.py configs/detectors/gfl/gfl_r101_fpn_6e_uavdt.py
#   2. python tools/train.py {this config} --cfg-options \
#        model.teacher_ckpt=work_dirs/gfl_r101_fpn_6e_uavdt/epoch_6.pth
_base_ = [
    '../../detectors/gfl/gfl_r18_fpn_6e_uavdt.py',
    './_base_/fgd_fpn.py'
]

teacher_ckpt = 'work_dirs/gfl_r101_fpn_6e_uavdt/epoch_6.pth'

model = dict(
    _delete_=True,
    **_base_.distill,
    architecture=_base_.model,
    teacher=dict(cfg_file='configs/detectors/gfl/gfl_r101_fpn_6e_uavdt.py'),
    teacher_ckpt=teacher_ckpt)
# validates the student, then the teacher (logged as teacher.uavdt/...)
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
