# Copyright (c) mmkd_dense contributors. All rights reserved.
# CID + Light-ML + CID-weighted FGD method base for GFL students: the CID head
# loss (cid-lightml_head_gfl.py) plus FGD on the 5 FPN levels (256 ch, FGD's
# GFL weights) with the CID weight map as mask.
_base_ = ['./cid-lightml_head_gfl.py']

fgd_loss = dict(
    type='mmkd_dense.FGDLoss', student_channels=256, teacher_channels=256,
    temperature=0.5, alpha_fgd=0.001, beta_fgd=0.0005, gamma_fgd=0.0005,
    lambda_fgd=5e-06)
cid_fgd_loss = dict(
    type='mmkd_dense.CIDWeightedFeatureLoss', loss=fgd_loss, mode='mask',
    norm='instance')

distill = dict(
    distiller=dict(
        student_recorders=dict(
            fpn=dict(type='ModuleOutputs', source='neck')),
        distill_losses={
            f'loss_cid_fgd_fpn{i}': cid_fgd_loss
            for i in range(5)
        },
        loss_forward_mappings={
            f'loss_cid_fgd_fpn{i}': dict(
                preds_S=dict(from_student=True, recorder='fpn', data_idx=i),
                preds_T=dict(from_student=False, recorder='fpn', data_idx=i))
            for i in range(5)
        }))
