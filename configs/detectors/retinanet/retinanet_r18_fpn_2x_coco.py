_base_ = './retinanet_r50_fpn_2x_coco.py'
model = dict(
    backbone=dict(depth=18), neck=dict(in_channels=[64, 128, 256, 512]))
