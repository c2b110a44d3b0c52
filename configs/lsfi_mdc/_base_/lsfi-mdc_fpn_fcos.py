# Copyright (c) mmkd_dense contributors. All rights reserved.
# LSFI + MDC-KD method base for FCOS students: LSFI weights of FGD's FCOS
# config; everything else as lsfi-mdc_fpn.py (P3-P7, 256 channels).
_base_ = ['./lsfi-mdc_fpn.py']

lsfi_weights = dict(temperature=0.8, alpha=0.0016, beta=0.0008, gamma=0.0008)
lsfi_loss = lsfi_weights
distill = dict(
    distiller=dict(
        distill_losses={f'loss_lsfi_fpn{i}': lsfi_weights for i in range(5)}))
