# Demo STUDENT: RetinaNet, ResNet-18 with 16 base channels (1/4 of the
# teacher's FLOPs), FPN 32 ch, P3-P5, same schedule as the teacher.
_base_ = ['./retinanet_r18c32_fpn_12e_digits.py']
model = dict(
    backbone=dict(base_channels=16),
    neck=dict(in_channels=[16, 32, 64, 128], out_channels=32),
    bbox_head=dict(in_channels=32, feat_channels=32))
