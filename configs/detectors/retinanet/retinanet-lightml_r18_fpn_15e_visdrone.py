# RetinaNet R18-FPN with Light-ML in the head (CID + Light-ML student),
# VisDrone drone protocol; alone it is the Light-ML-only ablation.
# R18 settings as retinanet_r18_fpn_15e_visdrone.py, written here (not inherited)
# so that distillation configs stay within three inheritance levels.
_base_ = './retinanet_r50_fpn_15e_visdrone.py'
model = dict(
    backbone=dict(
        depth=18,
        init_cfg=dict(checkpoint='https://download.pytorch.org/models/'
                      'resnet18-f37072fd.pth')),
    neck=dict(in_channels=[64, 128, 256, 512]),
    bbox_head=dict(type='mmkd_dense.LightMLRetinaHead'))
# registers the mmkd_dense.LightML*Head classes
custom_imports = dict(
    imports=['mmkd_dense', 'mmkd_dense.models.heads'],
    allow_failed_imports=False)
