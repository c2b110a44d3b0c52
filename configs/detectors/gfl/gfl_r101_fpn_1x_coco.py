_base_ = './gfl_r50_fpn_1x_coco.py'
model = dict(backbone=dict(depth=101))
