# CID + Light-ML (arXiv 2411.02861, proposed design; README.md): GFL R101 ->
# GFL R18 with Light-ML in the head, VisDrone drone protocol (1333x800,
# RepeatDataset x5, 15 epochs, steps 11/14, lr 0.01, grad-clip 10, 500 dets).
#   1. python tools/train.py configs/detectors/gfl/gfl_r101_fpn_15e_visdrone.py
#   2. python tools/train.py {this config} \
#        --cfg-options model.teacher_ckpt=work_dirs/gfl_r101_fpn_15e_visdrone/epoch_15.pth
_base_ = ['../detectors/gfl/gfl-lightml_r18_fpn_15e_visdrone.py']

teacher_ckpt = 'work_dirs/gfl_r101_fpn_15e_visdrone/epoch_15.pth'
# L_CID = (1/Z) sum_p W(p) [1.0 * KDQFL + 0.25 * (T^2/4) sum_edges KL(T=10)]
cid_loss = dict(
    type='mmkd_dense.CIDLoss', box_kd='kl', cls_weight=1.0, box_weight=0.25,
    temperature=10.0, expand=1.5, min_half=1.0)

model = dict(
    _delete_=True,
    _scope_='mmrazor',
    type='mmkd_dense.GTAwareDistill',
    architecture=_base_.model,
    teacher=dict(cfg_file='configs/detectors/gfl/gfl_r101_fpn_15e_visdrone.py'),
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
# validates the student, then the teacher (logged as teacher.coco/...)
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
