# Copyright (c) mmkd_dense contributors. All rights reserved.
# CID + Light-ML + FGD method base for the embedded digits demo: the CID head
# loss (cid-lightml_head.py) plus plain FGD on the 3 demo FPN levels (student
# 32 ch, teacher 64 ch; FGD's RetinaNet weights).
_base_ = ['./cid-lightml_head.py']

fgd_loss = dict(
    type='mmkd_dense.FGDLoss', student_channels=32, teacher_channels=64,
    temperature=0.5, alpha_fgd=0.001, beta_fgd=0.0005, gamma_fgd=0.0005,
    lambda_fgd=0.000005)
distill = dict(
    distiller=dict(
        student_recorders=dict(
            fpn=dict(type='ModuleOutputs', source='neck')),
        distill_losses={f'loss_fgd_fpn{i}': fgd_loss for i in range(3)},
        loss_forward_mappings={
            f'loss_fgd_fpn{i}': dict(
                preds_S=dict(from_student=True, recorder='fpn', data_idx=i),
                preds_T=dict(from_student=False, recorder='fpn', data_idx=i))
            for i in range(3)
        }))
