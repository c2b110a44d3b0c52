# Copyright (c) mmkd_dense contributors. All rights reserved.
# FGD method base for FCOS students: FGD's FCOS weights; rest as fgd_fpn.py.
_base_ = ['./fgd_fpn.py']

fgd_weights = dict(temperature=0.8, alpha_fgd=0.0016, beta_fgd=0.0008,
                   gamma_fgd=0.0008, lambda_fgd=8e-06)
fgd_loss = fgd_weights
distill = dict(
    distiller=dict(
        distill_losses={f'loss_fgd_fpn{i}': fgd_weights for i in range(5)}))
