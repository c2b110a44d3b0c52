# CID + Light-ML on top of FGD (feature-level base method): GFL R101 -> GFL
# R18 (Light-ML head), VisDrone drone protocol. FGD runs on the 5 FPN levels
# with the CID weights as its foreground mask (M_fg = W, M_bg = 1[W=0]/#bg),
# plus L_CID on the head outputs:  L = L_det + L_FGD(CID masks) + L_CID.
#   1. python tools/train.py configs/detectors/gfl/gfl_r101_fpn_15e_visdrone.py
#   2. python tools/train.py {this config} \
#        --cfg-options model.teacher_ckpt=work_dirs/gfl_r101_fpn_15e_visdrone/epoch_15.pth
_base_ = [
    '../detectors/gfl/gfl-lightml_r18_fpn_15e_visdrone.py',
    './_base_/cid-lightml-fgd_head-fpn_gfl.py'
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
