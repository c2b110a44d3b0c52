_base_ = './retinanet_r50_fpn_2x_coco.py'
model = dict(
    backbone=dict(
        type='ResNeXt', depth=101, groups=64, base_width=4, style='pytorch'))
