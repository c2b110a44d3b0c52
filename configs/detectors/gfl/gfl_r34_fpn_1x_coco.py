_base_ = './gfl_r50_fpn_1x_coco.py'
model = dict(
    backbone=dict(
        depth=34,
        init_cfg=dict(checkpoint='https://download.pytorch.org/models/'
                      'resnet34-b627a593.pth')),
    neck=dict(in_channels=[64, 128, 256, 512]))
