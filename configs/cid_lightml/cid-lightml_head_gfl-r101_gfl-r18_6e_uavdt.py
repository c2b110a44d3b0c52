# CID + Light-ML (arXiv 2411.02861, proposed design; README.md): GFL R101 ->
# GFL R18 with Light-ML in the head, UAVDT drone protocol (1024x540,
# RepeatDataset x5, 6 epochs, steps 4/5, lr 0.01, grad-clip 10, 500 dets;
# metric uavdt/AP70 = AP at IoU 0.7 and uavdt/AP = COCO AP). The distiller
# (recorders, L_CID and its weights) is the one of
# cid-lightml_head_gfl-r101_gfl-r18_15e_visdrone.py; a test keeps them equal.
#   1. python tools/train.py configs/detectors/gfl/gfl_r101_fpn_6e_uavdt.py
#   2. python tools/train.py {this config} --cfg-options \
#        model.teacher_ckpt=work_dirs/gfl_r101_fpn_6e_uavdt/epoch_6.pth
_base_ = [
    '../detectors/gfl/gfl-lightml_r18_fpn_6e_uavdt.py',
    './_base_/cid-lightml_head_gfl.py'
]

teacher_ckpt = 'work_dirs/gfl_r101_fpn_6e_uavdt/epoch_6.pth'
model = dict(
    _delete_=True,
    **_base_.distill,
    architecture=_base_.model,
    teacher=dict(cfg_file='configs/detectors/gfl/gfl_r101_fpn_6e_uavdt.py'),
    teacher_ckpt=teacher_ckpt)
# validates the student, then the teacher (logged as teacher.<metric>)
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
