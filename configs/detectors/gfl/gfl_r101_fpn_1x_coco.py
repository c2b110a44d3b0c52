_base_ = './gfl_r50_fpn_1x_coco.py'
model = dict(
    backbone=dict(
        depth=101,
        init_cfg=dict(checkpoint='https://download.pytorch.org/models/'
                      'resnet101-63fe2227.pth')))
