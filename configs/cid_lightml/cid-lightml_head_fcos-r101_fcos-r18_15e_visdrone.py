# CID + Light-ML: FCOS R101 -> FCOS R18 (GN heads, Light-ML in the student
# head), VisDrone drone protocol. Box KD: 1 - GIoU of the (l, t, r, b) boxes
# predicted at the same point (weight 1).
#   1. python tools/train.py configs/detectors/fcos/fcos_r101_fpn_gn-head_15e_visdrone.py
#   2. python tools/train.py {this config} \
#        --cfg-options model.teacher_ckpt=work_dirs/fcos_r101_fpn_gn-head_15e_visdrone/epoch_15.pth
_base_ = ['../detectors/fcos/fcos-lightml_r18_fpn_gn-head_15e_visdrone.py']

teacher_ckpt = 'work_dirs/fcos_r101_fpn_gn-head_15e_visdrone/epoch_15.pth'
cid_loss = dict(
    type='mmkd_dense.CIDLoss', box_kd='giou', cls_weight=1.0, box_weight=1.0,
    expand=1.5, min_half=1.0)

model = dict(
    _delete_=True,
    _scope_='mmrazor',
    type='mmkd_dense.GTAwareDistill',
    architecture=_base_.model,
    teacher=dict(
        cfg_file='configs/detectors/fcos/fcos_r101_fpn_gn-head_15e_visdrone.py'),
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
