_base_ = './fcos_r50_fpn_gn-head_2x_coco.py'
model = dict(
    backbone=dict(
        type='ResNeXt', depth=101, groups=64, base_width=4, style='pytorch',
        # mmdet's open-mmlab://resnext101_64x4d (mmengine/hub/openmmlab.json)
        init_cfg=dict(checkpoint='https://download.openmmlab.com/pretrain/'
                      'third_party/resnext101_64x4d-ee2c6f71.pth')))
