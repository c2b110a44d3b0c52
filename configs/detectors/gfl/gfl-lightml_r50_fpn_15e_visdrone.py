# GFL R50-FPN with Light-ML in the head (CID + Light-ML student), VisDrone.
_base_ = './gfl_r50_fpn_15e_visdrone.py'
model = dict(bbox_head=dict(type='mmkd_dense.LightMLGFLHead'))
# registers the mmkd_dense.LightML*Head classes
custom_imports = dict(
    imports=['mmkd_dense', 'mmkd_dense.models.heads'],
    allow_failed_imports=False)
