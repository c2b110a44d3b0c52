# Copyright (c) mmkd_dense contributors. All rights reserved.
# DS2D2 on the embedded digits demo with the implicit stream on every 3rd
# iteration (x3 there): the speed option of DS2D2DenseImplicitLoss
# (``interval``), not part of the paper. Everything else as
# ds2d2_fpn_retina-r18c32_retina-r18c16-fpn64_12e_digits.py (same stages 1-2).
#   python tools/train.py configs/ds2d2/ds2d2-interval3_fpn_retina-r18c32_retina-r18c16-fpn64_12e_digits.py \
#       --work-dir work_dirs/demo/ds2d2_i3
# A variant of the pair config written as a sibling (same two bases) so that
# it stays within three inheritance levels; the schedule change is applied
# to the method's `distill` dict before the model is assembled.
_base_ = [
    '../demo/retinanet_r18c16_fpn64_12e_digits.py',
    './_base_/ds2d2_fpn_retina-r18c32_12e_digits.py'
]

distill = _base_.distill
distill.distiller.distill_losses.loss_ds2d2_ff.update(interval=3)
distill.distiller.distill_losses.loss_ds2d2_hf.update(interval=3)
model = dict(_delete_=True, **distill, architecture=_base_.model)
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
