# Faster R-CNN R101-FPN on VisDrone (drone protocol; see
# faster-rcnn_r50_fpn_15e_visdrone.py). Teacher for CID + Light-ML.
_base_ = './faster-rcnn_r50_fpn_15e_visdrone.py'
model = dict(
    backbone=dict(
        depth=101,
        init_cfg=dict(checkpoint='https://download.pytorch.org/models/'
                      'resnet101-63fe2227.pth')))
