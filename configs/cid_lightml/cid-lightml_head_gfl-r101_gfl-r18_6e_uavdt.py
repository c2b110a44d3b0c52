# CID + Light-ML (arXiv 2411.02861, proposed design; README.md): GFL R101 ->
# GFL R18 with Light-ML in the head, UAVDT drone protocol (1024x540,
# RepeatDataset x5, 6 epochs, steps 4/5, lr 0.01, grad-clip 10, 500 dets;
# metric uavdt/AP70 = AP at IoU 0.7 and uavdt/AP = COCO AP). The distiller
# (recorders, L_CID and its weights) is the one of
# cid-lightml_head_gfl-r101_gfl-r18_15e_visdrone.py; a test keeps them equal.
#   1. python tools/train.py configs/detectors/gfl/gfl_r101_fpn_6e_uavdt.py
#   2. python tools/train.py {this config} --cfg-options \
#        model.teacher_ckpt=work_dirs/gfl_r101_fpn_6e_uavdt/epoch_6.pth
_base_ = ['../detectors/gfl/gfl-lightml_r18_fpn_6e_uavdt.py']

teacher_ckpt = 'work_dirs/gfl_r101_fpn_6e_uavdt/epoch_6.pth'
# L_CID = (1/Z) sum_p W(p) [1.0 * KDQFL + 0.25 * (T^2/4) sum_edges KL(T=10)]
cid_loss = dict(
    type='mmkd_dense.CIDLoss', box_kd='kl', cls_weight=1.0, box_weight=0.25,
    temperature=10.0, expand=1.5, min_half=1.0)

model = dict(
    _delete_=True,
    _scope_='mmrazor',
    type='mmkd_dense.GTAwareDistill',
    architecture=_base_.model,
    teacher=dict(cfg_file='configs/detectors/gfl/gfl_r101_fpn_6e_uavdt.py'),
    teacher_ckpt=teacher_ckpt,
    # teacher backbone + neck; CIDLoss runs the teacher head (no grad) on the
    # recorded neck features
    teacher_forward='feat',
    distiller=dict(
        type='mmkd_dense.GTAwareDistiller',
        # (cls_scores, bbox_preds) of all levels, recorded in bbox_head.loss
        student_recorders=dict(
            head=dict(type='ModuleOutputs', source='bbox_head')),
        teacher_recorders=dict(fpn=dict(type='ModuleOutputs', source='neck')),
        distill_losses=dict(loss_cid=cid_loss),
        loss_forward_mappings=dict(
            loss_cid=dict(
                student_outs=dict(from_student=True, recorder='head'),
                teacher_feats=dict(from_student=False, recorder='fpn')))))

find_unused_parameters = True
# validates the student, then the teacher (logged as teacher.uavdt/...)
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
