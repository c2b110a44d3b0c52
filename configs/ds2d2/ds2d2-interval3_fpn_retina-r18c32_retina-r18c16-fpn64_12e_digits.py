# Copyright (c) mmkd_dense contributors. All rights reserved.
# DS2D2 on the embedded digits demo with the implicit stream on every 3rd
# iteration (x3 there): the speed option of DS2D2DenseImplicitLoss
# (``interval``), not part of the paper. Everything else as
# ds2d2_fpn_retina-r18c32_retina-r18c16-fpn64_12e_digits.py (same stages 1-2).
#   python tools/train.py configs/ds2d2/ds2d2-interval3_fpn_retina-r18c32_retina-r18c16-fpn64_12e_digits.py \
#       --work-dir work_dirs/demo/ds2d2_i3
_base_ = ['./ds2d2_fpn_retina-r18c32_retina-r18c16-fpn64_12e_digits.py']

model = dict(
    distiller=dict(
        distill_losses=dict(
            loss_ds2d2_ff=dict(interval=3),
            loss_ds2d2_hf=dict(interval=3))))
