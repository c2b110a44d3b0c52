# Copyright (c) mmkd_dense contributors. All rights reserved.
# DS2D2 on the embedded digits demo (CPU-sized): demo teacher RetinaNet
# R18-c32 (FPN 64 ch) -> RetinaNet R18-c16 with a 64-ch FPN (the implicit
# stream runs the teacher head on student features, so the FPN widths must
# match, as in the real R101 -> R18 pairs). Loss weights: RetinaNet DIOR.
#   1. python tools/train.py configs/demo/retinanet_r18c32_fpn_12e_digits.py \
#        --work-dir work_dirs/demo/teacher
#   2. python tools/train.py configs/ds2d2/ds2d2_hf-amplifier_retina-r18c32_12e_digits.py \
#        --work-dir work_dirs/demo/ds2d2_hf_amplifier
#   3. python tools/train.py configs/ds2d2/ds2d2_fpn_retina-r18c32_retina-r18c16-fpn64_12e_digits.py \
#        --work-dir work_dirs/demo/ds2d2
#   4. python tools/test.py configs/ds2d2/ds2d2_fpn_retina-r18c32_retina-r18c16-fpn64_12e_digits.py \
#        work_dirs/demo/ds2d2/epoch_12.pth
#   no-KD baseline: configs/demo/retinanet_r18c16_fpn64_12e_digits.py
_base_ = [
    '../demo/retinanet_r18c16_fpn64_12e_digits.py',
    './_base_/ds2d2_fpn_retina-r18c32_12e_digits.py'
]

model = dict(_delete_=True, **_base_.distill, architecture=_base_.model)
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
