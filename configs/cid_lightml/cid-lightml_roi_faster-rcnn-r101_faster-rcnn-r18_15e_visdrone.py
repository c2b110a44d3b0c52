# CID + Light-ML: Faster R-CNN R101 -> Faster R-CNN R18 (Light-ML on the RoI
# box head's branch features), VisDrone drone protocol. The teacher's RoI
# head classifies/regresses the student's sampled RoIs on the teacher's FPN;
# each RoI is weighted by the CID centerness of its centre in the enlarged GT
# boxes, normalised per instance (CIDRoILoss).
#   1. python tools/train.py configs/detectors/faster_rcnn/faster-rcnn_r101_fpn_15e_visdrone.py
#   2. python tools/train.py {this config} \
#        --cfg-options model.teacher_ckpt=work_dirs/faster-rcnn_r101_fpn_15e_visdrone/epoch_15.pth
_base_ = [
    '../detectors/faster_rcnn/faster-rcnn-lightml_r18_fpn_15e_visdrone.py',
    './_base_/cid-lightml_roi.py'
]

teacher_ckpt = 'work_dirs/faster-rcnn_r101_fpn_15e_visdrone/epoch_15.pth'
model = dict(
    _delete_=True,
    **_base_.distill,
    architecture=_base_.model,
    teacher=dict(
        cfg_file='configs/detectors/faster_rcnn/faster-rcnn_r101_fpn_15e_visdrone.py'),
    teacher_ckpt=teacher_ckpt)
# validates the student, then the teacher (logged as teacher.<metric>)
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
