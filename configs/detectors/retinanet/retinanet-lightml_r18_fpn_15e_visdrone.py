# RetinaNet R18-FPN with Light-ML in the head (CID + Light-ML student),
# VisDrone drone protocol; alone it is the Light-ML-only ablation.
_base_ = './retinanet_r18_fpn_15e_visdrone.py'
model = dict(bbox_head=dict(type='mmkd_dense.LightMLRetinaHead'))
# registers the mmkd_dense.LightML*Head classes
custom_imports = dict(
    imports=['mmkd_dense', 'mmkd_dense.models.heads'],
    allow_failed_imports=False)
