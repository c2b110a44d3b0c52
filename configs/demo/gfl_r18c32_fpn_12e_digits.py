# Demo GFL TEACHER: GFL, ResNet-18 with 32 base channels, FPN 64 ch, P3-P5,
# 2 tower convs, trained from scratch on the digits demo set (the GFL
# counterpart of retinanet_r18c32_fpn_12e_digits.py, for LD / CrossKD-GFL).
_base_ = [
    '../_base_/models/gfl_r50_fpn.py', './_base_/digits_runtime.py'
]
model = dict(
    backbone=dict(depth=18, base_channels=32, frozen_stages=-1,
                  norm_eval=False,
                  # random init on purpose (no ImageNet file for a 32-ch
                  # ResNet)
                  init_cfg=None),
    neck=dict(in_channels=[32, 64, 128, 256], out_channels=64, num_outs=3,
              add_extra_convs=False),
    bbox_head=dict(
        num_classes=10,
        in_channels=64,
        feat_channels=64,
        stacked_convs=2,
        # 32 px anchors at stride 8 for the ~10-30 px digits
        anchor_generator=dict(octave_base_scale=4, strides=[8, 16, 32])),
    test_cfg=dict(score_thr=0.05, max_per_img=100))
