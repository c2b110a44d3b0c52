# CID + Light-ML: GFL R101 -> GFL R50 (Light-ML head), COCO, LD protocol
# (1x, lr 0.01 as configs/detectors/gfl/gfl_r50_fpn_1x_coco.py).
#   1. python tools/train.py configs/detectors/gfl/gfl_r101_fpn_1x_coco.py
#   2. python tools/train.py {this config} \
#        --cfg-options model.teacher_ckpt=work_dirs/gfl_r101_fpn_1x_coco/epoch_12.pth
_base_ = ['../detectors/gfl/gfl_r50_fpn_1x_coco.py']

# registers the mmkd_dense.LightML*Head classes
custom_imports = dict(
    imports=['mmkd_dense', 'mmkd_dense.models.heads'],
    allow_failed_imports=False)

teacher_ckpt = 'work_dirs/gfl_r101_fpn_1x_coco/epoch_12.pth'
cid_loss = dict(
    type='mmkd_dense.CIDLoss', box_kd='kl', cls_weight=1.0, box_weight=0.25,
    temperature=10.0, expand=1.5, min_half=1.0)

model = dict(
    _delete_=True,
    _scope_='mmrazor',
    type='mmkd_dense.GTAwareDistill',
    # the COCO GFL R50 student with its head swapped for the Light-ML head
    architecture=dict(
        cfg_file='configs/detectors/gfl/gfl_r50_fpn_1x_coco.py',
        cfg_options={'bbox_head.type': 'mmkd_dense.LightMLGFLHead'}),
    teacher=dict(cfg_file='configs/detectors/gfl/gfl_r101_fpn_1x_coco.py'),
    teacher_ckpt=teacher_ckpt,
    teacher_forward='feat',
    distiller=dict(
        type='mmkd_dense.GTAwareDistiller',
        student_recorders=dict(
            head=dict(type='ModuleOutputs', source='bbox_head')),
        teacher_recorders=dict(fpn=dict(type='ModuleOutputs', source='neck')),
        distill_losses=dict(loss_cid=cid_loss),
        loss_forward_mappings=dict(
            loss_cid=dict(
                student_outs=dict(from_student=True, recorder='head'),
                teacher_feats=dict(from_student=False, recorder='fpn')))))

find_unused_parameters = True
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
