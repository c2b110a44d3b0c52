# Copyright (c) mmkd_dense contributors. All rights reserved.
# CID + Light-ML method base for Faster R-CNN students (Light-ML RoI box
# head): CIDRoILoss on the student's sampled RoIs, the teacher's RoI head run
# (no grad) on the teacher's FPN features.
cid_roi_loss = dict(
    type='mmkd_dense.CIDRoILoss', cls_weight=1.0, reg_weight=1.0,
    temperature=1.0, expand=1.5, min_half=1.0)

distill = dict(
    _scope_='mmrazor',
    type='mmkd_dense.GTAwareDistill',
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
