# CID + Light-ML: Faster R-CNN R101 -> Faster R-CNN R18 (Light-ML on the RoI
# box head's branch features), VisDrone drone protocol. The teacher's RoI
# head classifies/regresses the student's sampled RoIs on the teacher's FPN;
# each RoI is weighted by the CID centerness of its centre in the enlarged GT
# boxes, normalised per instance (CIDRoILoss).
#   1. python tools/train.py configs/detectors/faster_rcnn/faster-rcnn_r101_fpn_15e_visdrone.py
#   2. python tools/train.py {this config} \
#        --cfg-options model.teacher_ckpt=work_dirs/faster-rcnn_r101_fpn_15e_visdrone/epoch_15.pth
_base_ = [
    '../detectors/faster_rcnn/faster-rcnn-lightml_r18_fpn_15e_visdrone.py'
]

teacher_ckpt = 'work_dirs/faster-rcnn_r101_fpn_15e_visdrone/epoch_15.pth'
cid_roi_loss = dict(
    type='mmkd_dense.CIDRoILoss', cls_weight=1.0, box_weight=1.0,
    temperature=1.0, expand=1.5, min_half=1.0)

model = dict(
    _delete_=True,
    _scope_='mmrazor',
    type='mmkd_dense.GTAwareDistill',
    architecture=_base_.model,
    teacher=dict(
        cfg_file='configs/detectors/faster_rcnn/faster-rcnn_r101_fpn_15e_visdrone.py'),
    teacher_ckpt=teacher_ckpt,
    teacher_forward='feat',
    distiller=dict(
        type='mmkd_dense.GTAwareDistiller',
        student_recorders=dict(
            roi_out=dict(type='ModuleOutputs', source='roi_head.bbox_head'),
            roi_in=dict(
                type='ModuleInputs', source='roi_head.bbox_roi_extractor')),
        teacher_recorders=dict(fpn=dict(type='ModuleOutputs', source='neck')),
        distill_losses=dict(loss_cid_roi=cid_roi_loss),
        loss_forward_mappings=dict(
            loss_cid_roi=dict(
                student_cls=dict(
                    from_student=True, recorder='roi_out', data_idx=0),
                student_reg=dict(
                    from_student=True, recorder='roi_out', data_idx=1),
                rois=dict(from_student=True, recorder='roi_in', data_idx=1),
                teacher_feats=dict(from_student=False, recorder='fpn')))))

find_unused_parameters = True
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
