# Copyright (c) mmkd_dense contributors. All rights reserved.
# CID + Light-ML method base for GFL students: the box term is KL (T=10) on
# the edge distributions.
# L_CID = (1/Z) sum_p W(p) [1.0 * KDQFL + 0.25 * (T^2/4) sum_edges KL(T=10)]
_base_ = ['./cid-lightml_head.py']

cid_loss = dict(box_kd='kl', reg_weight=0.25, temperature=10.0)
distill = dict(
    distiller=dict(
        distill_losses=dict(
            loss_cid=dict(box_kd='kl', reg_weight=0.25, temperature=10.0))))
