# Copyright (c) mmkd_dense contributors. All rights reserved.
# LSFI + MDC-KD method base for Faster R-CNN students: LSFI weights of FGD's
# Faster R-CNN config; FPN P2-P6, 256 channels; rest as lsfi-mdc_fpn.py.
_base_ = ['./lsfi-mdc_fpn.py']

lsfi_weights = dict(temperature=0.5, alpha=5e-05, beta=2.5e-05, gamma=5e-05)
lsfi_loss = lsfi_weights
distill = dict(
    distiller=dict(
        distill_losses={f'loss_lsfi_fpn{i}': lsfi_weights for i in range(5)}))
