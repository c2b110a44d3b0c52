# Demo GFL STUDENT: ResNet-18 with 16 base channels, FPN and head 32 ch,
# P3-P5, same schedule as the GFL demo teacher (its no-KD baseline).
_base_ = ['./gfl_r18c32_fpn_12e_digits.py']
model = dict(
    backbone=dict(base_channels=16),
    neck=dict(in_channels=[16, 32, 64, 128], out_channels=32),
    bbox_head=dict(in_channels=32, feat_channels=32))
