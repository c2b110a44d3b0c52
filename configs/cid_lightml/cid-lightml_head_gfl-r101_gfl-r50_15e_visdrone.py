# CID + Light-ML: GFL R101 -> GFL R50 (Light-ML head), VisDrone drone
# protocol. Same method settings as the R18 main pair.
#   1. python tools/train.py configs/detectors/gfl/gfl_r101_fpn_15e_visdrone.py
#   2. python tools/train.py {this config} \
#        --cfg-options model.teacher_ckpt=work_dirs/gfl_r101_fpn_15e_visdrone/epoch_15.pth
_base_ = [
    '../detectors/gfl/gfl-lightml_r50_fpn_15e_visdrone.py',
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
