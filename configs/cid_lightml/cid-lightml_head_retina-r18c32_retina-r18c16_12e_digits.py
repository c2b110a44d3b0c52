# CID + Light-ML on the embedded digits demo (many small objects):
# demo teacher RetinaNet R18-c32 -> demo student R18-c16 with a Light-ML head.
#   python tools/train.py configs/demo/retinanet_r18c32_fpn_12e_digits.py \
#       --work-dir work_dirs/demo/teacher
#   python tools/train.py <this config> \
#       --cfg-options model.teacher_ckpt=work_dirs/demo/teacher/epoch_12.pth
_base_ = ['../demo/retinanet_r18c16_fpn_12e_digits.py']

teacher_ckpt = 'work_dirs/demo/teacher/epoch_12.pth'
cid_loss = dict(
    type='mmkd_dense.CIDLoss', box_kd='giou', cls_weight=1.0, box_weight=1.0,
    expand=1.5, min_half=1.0)

student = _base_.model
student.bbox_head.type = 'mmkd_dense.LightMLRetinaHead'
model = dict(
    _delete_=True,
    _scope_='mmrazor',
    type='mmkd_dense.GTAwareDistill',
    architecture=student,
    teacher=dict(cfg_file='configs/demo/retinanet_r18c32_fpn_12e_digits.py'),
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
