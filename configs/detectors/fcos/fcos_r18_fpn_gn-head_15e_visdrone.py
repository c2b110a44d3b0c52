# FCOS R18-FPN (GN head) on VisDrone (drone protocol). No-KD baseline.
_base_ = './fcos_r50_fpn_gn-head_15e_visdrone.py'
model = dict(
    backbone=dict(
        depth=18,
        init_cfg=dict(checkpoint='https://download.pytorch.org/models/'
                      'resnet18-f37072fd.pth')),
    neck=dict(in_channels=[64, 128, 256, 512]))
