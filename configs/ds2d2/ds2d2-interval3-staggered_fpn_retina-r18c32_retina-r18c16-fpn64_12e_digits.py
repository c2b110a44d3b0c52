# Copyright (c) mmkd_dense contributors. All rights reserved.
# DS2D2 on the embedded digits demo, implicit stream every 3rd iteration
# (x3 there) with the two amplifiers staggered: the full-frequency one on
# iterations 0, 3, 6, ..., the high-frequency one on 1, 4, 7, ... (same cost
# as ds2d2-interval3_..., KD signal on 2 of 3 iterations). Speed option, not in the
# paper.
#   python tools/train.py configs/ds2d2/ds2d2-interval3-staggered_fpn_retina-r18c32_retina-r18c16-fpn64_12e_digits.py \
#       --work-dir work_dirs/demo/ds2d2_i3s
# A variant of the pair config written as a sibling (same two bases) so that
# it stays within three inheritance levels; the schedule change is applied
# to the method's `distill` dict before the model is assembled.
_base_ = [
    '../demo/retinanet_r18c16_fpn64_12e_digits.py',
    './_base_/ds2d2_fpn_retina-r18c32_12e_digits.py'
]

distill = _base_.distill
distill.distiller.distill_losses.loss_ds2d2_ff.update(interval=3, interval_offset=0)
distill.distiller.distill_losses.loss_ds2d2_hf.update(interval=3, interval_offset=1)
model = dict(_delete_=True, **distill, architecture=_base_.model)
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
