# RetinaNet R101-FPN on VisDrone (drone protocol; see
# retinanet_r50_fpn_15e_visdrone.py). Teacher for CID + Light-ML.
_base_ = './retinanet_r50_fpn_15e_visdrone.py'
model = dict(
    backbone=dict(
        depth=101,
        init_cfg=dict(checkpoint='https://download.pytorch.org/models/'
                      'resnet101-63fe2227.pth')))
