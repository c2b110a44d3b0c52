_base_ = './fcos_r50_fpn_gn-head_2x_coco.py'
model = dict(
    backbone=dict(
        type='ResNeXt', depth=101, groups=64, base_width=4, style='pytorch'))
