_base_ = './faster-rcnn_r50_fpn_2x_coco.py'
model = dict(
    backbone=dict(
        depth=34,
        init_cfg=dict(checkpoint='https://download.pytorch.org/models/'
                      'resnet34-b627a593.pth')),
    neck=dict(in_channels=[64, 128, 256, 512]))
