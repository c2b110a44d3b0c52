# Copyright (c) mmkd_dense contributors. All rights reserved.
# DS2D2 stage 2 on the embedded digits demo: high-frequency amplifier of the
# demo teacher (RetinaNet R18-c32, FPN 64 ch, P3-P5). Backbone + neck = the
# trained teacher, frozen; bbox_head retrained for 12 epochs on HF(FPN).
#   1. python tools/train.py configs/demo/retinanet_r18c32_fpn_12e_digits.py \
#        --work-dir work_dirs/demo/teacher
#   2. python tools/train.py configs/ds2d2/ds2d2_hf-amplifier_retina-r18c32_12e_digits.py \
#        --work-dir work_dirs/demo/ds2d2_hf_amplifier
_base_ = ['../demo/retinanet_r18c32_fpn_12e_digits.py']

teacher_ckpt = 'work_dirs/demo/teacher/epoch_12.pth'
model = dict(
    _delete_=True,
    type='mmkd_dense.HFAmplifierDetector',
    detector=_base_.model,
    frozen_modules=('backbone', 'neck'))
# backbone, neck and the initial head weights come from the teacher
load_from = teacher_ckpt
