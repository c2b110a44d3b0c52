# Copyright (c) mmkd_dense contributors. All rights reserved.
# DS2D2 (TGRS 2025, arXiv 2512.04413): Faster R-CNN R101 -> Faster R-CNN R34, 2x, DOTA v1.0 (HBB).
# Explicit stream (shared 1x1 adapter, Haar LL / high bands, DISW weight) +
# implicit stream (teacher head = full-frequency amplifier, trained HF
# amplifier; RoI KL (T=3) + class-aware L1).
# Loss weights: [PROPOSED] no reference config for this student; taken from the
# reference ds2d2_faster-rcnn_r18_fpn_2x_dota.py.
#   1. python tools/train.py configs/detectors/faster_rcnn/faster-rcnn_r101_fpn_2x_dota.py
#   2. python tools/train.py configs/ds2d2/ds2d2_hf-amplifier_faster-rcnn-r101_2x_dota.py
#   3. python tools/train.py configs/ds2d2/ds2d2_fpn_faster-rcnn-r101_faster-rcnn-r34_2x_dota.py
#      (other paths: --cfg-options model.teacher_ckpt=... \
#       model.distiller.distill_losses.loss_ds2d2_hf.amplifier_ckpt=...)
_base_ = ['../detectors/faster_rcnn/faster-rcnn_r34_fpn_2x_dota.py']

teacher_ckpt = 'work_dirs/faster-rcnn_r101_fpn_2x_dota/epoch_24.pth'
amplifier_cfg = 'configs/ds2d2/ds2d2_hf-amplifier_faster-rcnn-r101_2x_dota.py'
amplifier_ckpt = 'work_dirs/ds2d2_hf-amplifier_faster-rcnn-r101_2x_dota/epoch_24.pth'

model = dict(
    _delete_=True,
    _scope_='mmrazor',
    type='mmkd_dense.GTAwareDistill',
    architecture=_base_.model,
    teacher=dict(cfg_file='configs/detectors/faster_rcnn/faster-rcnn_r101_fpn_2x_dota.py'),
    teacher_ckpt=teacher_ckpt,
    teacher_forward='feat',
    distiller=dict(
        type='mmkd_dense.GTAwareDistiller',
        student_recorders=dict(
            fpn=dict(type='ModuleOutputs', source='neck'),
            # the student's training proposals (inputs of its RoI head loss)
            rpn_results=dict(
                type='MethodInputs',
                source='mmdet.models.roi_heads.standard_roi_head.'
                'StandardRoIHead.loss')),
        teacher_recorders=dict(fpn=dict(type='ModuleOutputs', source='neck')),
        distill_losses=dict(
            # w_LL * sum_l L_LL + w_HF * sum_l L_HF
            loss_ds2d2_explicit=dict(
                type='mmkd_dense.DS2D2ExplicitLoss',
                student_channels=256,
                teacher_channels=256,
                loss_weight_ll=0.12,
                loss_weight_hf=1.2),
            # w_FF * L_imp(teacher head on F)
            loss_ds2d2_ff=dict(
                type='mmkd_dense.DS2D2RoIImplicitLoss',
                amplifier='teacher',
                loss_weight=0.0015,
                temperature=3.0,
                loss_cls_weight=0.5,
                # reference quirk: KL x #sampled RoIs (see README)
                avg_factor_as_weight=True),
            # w_HA * L_imp(HF amplifier on HF(F))
            loss_ds2d2_hf=dict(
                type='mmkd_dense.DS2D2RoIImplicitLoss',
                amplifier='high_frequency',
                amplifier_cfg=amplifier_cfg,
                amplifier_ckpt=amplifier_ckpt,
                loss_weight=0.003,
                temperature=3.0,
                loss_cls_weight=0.5,
                # reference quirk: KL x #sampled RoIs (see README)
                avg_factor_as_weight=True)),
        loss_forward_mappings=dict(
            loss_ds2d2_explicit=dict(
                preds_S=dict(from_student=True, recorder='fpn'),
                preds_T=dict(from_student=False, recorder='fpn')),
            loss_ds2d2_ff=dict(
                preds_S=dict(from_student=True, recorder='fpn'),
                preds_T=dict(from_student=False, recorder='fpn'),
                rpn_results=dict(
                    from_student=True, recorder='rpn_results', data_idx=1)),
            loss_ds2d2_hf=dict(
                preds_S=dict(from_student=True, recorder='fpn'),
                preds_T=dict(from_student=False, recorder='fpn'),
                rpn_results=dict(
                    from_student=True, recorder='rpn_results', data_idx=1)))))

find_unused_parameters = True
# validates the student, then the teacher (logged as teacher.*)
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
