# Copyright (c) mmkd_dense contributors. All rights reserved.
# FGD method base for Faster R-CNN students. FGD's Faster R-CNN config
# distils P2-P5 (neck.fpn_convs.0-3); P6 is a max-pool of P5 and is not
# distilled. Same layout as fgd_fpn.py otherwise.
fgd_loss = dict(
    type='mmkd_dense.FGDLoss', student_channels=256, teacher_channels=256,
    temperature=0.5, alpha_fgd=5e-05, beta_fgd=2.5e-05, gamma_fgd=5e-05,
    lambda_fgd=5e-07)

distill = dict(
    _scope_='mmrazor',
    type='mmkd_dense.GTAwareDistill',
    teacher_forward='feat',
    distiller=dict(
        type='mmkd_dense.GTAwareDistiller',
        student_recorders=dict(fpn=dict(type='ModuleOutputs', source='neck')),
        teacher_recorders=dict(fpn=dict(type='ModuleOutputs', source='neck')),
        distill_losses={f'loss_fgd_fpn{i}': fgd_loss for i in range(4)},
        loss_forward_mappings={
            f'loss_fgd_fpn{i}': dict(
                preds_S=dict(from_student=True, recorder='fpn', data_idx=i),
                preds_T=dict(from_student=False, recorder='fpn', data_idx=i))
            for i in range(4)
        }))

find_unused_parameters = True
