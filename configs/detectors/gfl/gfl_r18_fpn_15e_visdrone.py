# GFL R18-FPN (256 ch) on VisDrone (drone protocol; see
# gfl_r50_fpn_15e_visdrone.py). No-KD baseline of the CID + Light-ML student.
_base_ = './gfl_r50_fpn_15e_visdrone.py'
model = dict(
    backbone=dict(
        depth=18,
        init_cfg=dict(checkpoint='https://download.pytorch.org/models/'
                      'resnet18-f37072fd.pth')),
    neck=dict(in_channels=[64, 128, 256, 512]))
