# Copyright (c) mmkd_dense contributors. All rights reserved.
# DS2D2 on the embedded digits demo, implicit stream every 3rd iteration
# (x3 there) with the two amplifiers staggered: the full-frequency one on
# iterations 0, 3, 6, ..., the high-frequency one on 1, 4, 7, ... (same cost
# as ds2d2-interval3_..., KD signal on 2 of 3 iterations). Speed option, not in the
# paper.
#   python tools/train.py configs/ds2d2/ds2d2-interval3-staggered_fpn_retina-r18c32_retina-r18c16-fpn64_12e_digits.py \
#       --work-dir work_dirs/demo/ds2d2_i3s
_base_ = ['./ds2d2_fpn_retina-r18c32_retina-r18c16-fpn64_12e_digits.py']

model = dict(
    distiller=dict(
        distill_losses=dict(
            loss_ds2d2_ff=dict(interval=3, interval_offset=0),
            loss_ds2d2_hf=dict(interval=3, interval_offset=1))))
