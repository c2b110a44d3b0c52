# FCOS R101-FPN (GN head) on VisDrone (drone protocol; see
# fcos_r50_fpn_gn-head_15e_visdrone.py). Teacher for CID + Light-ML.
_base_ = './fcos_r50_fpn_gn-head_15e_visdrone.py'
model = dict(
    backbone=dict(
        depth=101,
        init_cfg=dict(checkpoint='https://download.pytorch.org/models/'
                      'resnet101-63fe2227.pth')))
