# CID + Light-ML: GFL R101 -> GFL R50 (Light-ML head), COCO, LD protocol
# (1x, lr 0.01 as configs/detectors/gfl/gfl_r50_fpn_1x_coco.py).
#   1. python tools/train.py configs/detectors/gfl/gfl_r101_fpn_1x_coco.py
#   2. python tools/train.py {this config} \
#        --cfg-options model.teacher_ckpt=work_dirs/gfl_r101_fpn_1x_coco/epoch_12.pth
_base_ = [
    '../detectors/gfl/gfl_r50_fpn_1x_coco.py',
    './_base_/cid-lightml_head_gfl.py'
]
custom_imports = dict(
    imports=['mmkd_dense', 'mmkd_dense.models.heads'],
    allow_failed_imports=False)

teacher_ckpt = 'work_dirs/gfl_r101_fpn_1x_coco/epoch_12.pth'
model = dict(
    _delete_=True,
    **_base_.distill,
    architecture=dict(
        cfg_file='configs/detectors/gfl/gfl_r50_fpn_1x_coco.py',
        cfg_options={'bbox_head.type': 'mmkd_dense.LightMLGFLHead'}),
    teacher=dict(cfg_file='configs/detectors/gfl/gfl_r101_fpn_1x_coco.py'),
    teacher_ckpt=teacher_ckpt)
# validates the student, then the teacher (logged as teacher.<metric>)
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
