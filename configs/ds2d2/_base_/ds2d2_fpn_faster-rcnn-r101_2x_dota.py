# Copyright (c) mmkd_dense contributors. All rights reserved.
# DS2D2 teacher base: Faster R-CNN R101 teacher, DOTA v1.0 (HBB). The teacher,
# its trained HF amplifier (stage 2:
# configs/ds2d2/ds2d2_hf-amplifier_faster- rcnn-r101_2x_dota.py) and the
# dataset's loss weights, shared by every student of this teacher (pair
# configs inherit [<student detector config>, this file]). Loss weights:
# reference ds2d2_faster- rcnn_r{18,34,50}_fpn_2x_dota.py.
_base_ = ['./ds2d2_fpn_faster-rcnn.py']

teacher_ckpt = 'work_dirs/faster-rcnn_r101_fpn_2x_dota/epoch_24.pth'
amplifier_cfg = 'configs/ds2d2/ds2d2_hf-amplifier_faster-rcnn-r101_2x_dota.py'
amplifier_ckpt = 'work_dirs/ds2d2_hf-amplifier_faster-rcnn-r101_2x_dota/epoch_24.pth'

distill = dict(
    teacher=dict(cfg_file='configs/detectors/faster_rcnn/faster-rcnn_r101_fpn_2x_dota.py'),
    teacher_ckpt=teacher_ckpt,
    distiller=dict(
        distill_losses=dict(
            loss_ds2d2_explicit=dict(ll_weight=0.12, hf_weight=1.2),
            loss_ds2d2_ff=dict(loss_weight=0.0015),
            loss_ds2d2_hf=dict(
                amplifier_cfg=amplifier_cfg, amplifier_ckpt=amplifier_ckpt, loss_weight=0.003))))
