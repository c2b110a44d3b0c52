# CID + Light-ML (arXiv 2411.02861, proposed design; README.md): GFL R101 ->
# GFL R18 with Light-ML in the head, VisDrone drone protocol (1333x800,
# RepeatDataset x5, 15 epochs, steps 11/14, lr 0.01, grad-clip 10, 500 dets).
#   1. python tools/train.py configs/detectors/gfl/gfl_r101_fpn_15e_visdrone.py
#   2. python tools/train.py {this config} \
#        --cfg-options model.teacher_ckpt=work_dirs/gfl_r101_fpn_15e_visdrone/epoch_15.pth
_base_ = [
    '../detectors/gfl/gfl-lightml_r18_fpn_15e_visdrone.py',
    './_base_/cid-lightml_head_gfl.py'
]

teacher_ckpt = 'work_dirs/gfl_r101_fpn_15e_visdrone/epoch_15.pth'
model = dict(
    _delete_=True,
    **_base_.distill,
    architecture=_base_.model,
    teacher=dict(
        cfg_file='configs/detectors/gfl/gfl_r101_fpn_15e_visdrone.py'),
    teacher_ckpt=teacher_ckpt)
# validates the student, then the teacher (logged as teacher.<metric>)
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
