# Copyright (c) mmkd_dense contributors. All rights reserved.
# DS2D2 RetinaNet R101 -> R18 on DIOR, FAST variant (not in the paper): each
# amplifier of the implicit stream runs on every 3rd iteration (x3 there),
# the two staggered (full-frequency on iterations 0, 3, ..., high-frequency on
# 1, 4, ...). Measured step cost 1.33x (student step + teacher forward)
# against 1.94x for the every-iteration reference schedule; on the embedded
# demo it kept about half of the mAP gain (configs/ds2d2/README.md).
# Stages 1-2 and commands: as ds2d2_fpn_retina-r101_retina-r18_2x_dior.py.
_base_ = ['./ds2d2_fpn_retina-r101_retina-r18_2x_dior.py']

model = dict(
    distiller=dict(
        distill_losses=dict(
            loss_ds2d2_ff=dict(interval=3, interval_offset=0),
            loss_ds2d2_hf=dict(interval=3, interval_offset=1))))
