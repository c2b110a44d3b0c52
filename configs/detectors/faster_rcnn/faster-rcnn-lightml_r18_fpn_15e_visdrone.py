# Faster R-CNN R18-FPN with Light-ML on the RoI box head's branch features
# (CID + Light-ML student), VisDrone drone protocol; alone it is the
# Light-ML-only ablation. LightMLConvFCBBoxHead with its defaults is the
# stock Shared2FCBBoxHead plus Light-ML.
# R18 settings as faster-rcnn_r18_fpn_15e_visdrone.py, written here (not inherited)
# so that distillation configs stay within three inheritance levels.
_base_ = './faster-rcnn_r50_fpn_15e_visdrone.py'
model = dict(
    backbone=dict(
        depth=18,
        init_cfg=dict(checkpoint='https://download.pytorch.org/models/'
                      'resnet18-f37072fd.pth')),
    neck=dict(in_channels=[64, 128, 256, 512]),
    roi_head=dict(bbox_head=dict(type='mmkd_dense.LightMLConvFCBBoxHead')))
# registers the mmkd_dense.LightML*Head classes
custom_imports = dict(
    imports=['mmkd_dense', 'mmkd_dense.models.heads'],
    allow_failed_imports=False)
