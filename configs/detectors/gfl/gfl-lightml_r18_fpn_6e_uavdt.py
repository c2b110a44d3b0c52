# GFL R18-FPN with Light-ML in the head (CID + Light-ML student, arXiv
# 2411.02861), UAVDT drone protocol (see gfl_r18_fpn_6e_uavdt.py). Trained
# alone it is the Light-ML-only ablation (no KD); configs/cid_lightml/
# *_uavdt.py distil into it.
_base_ = './gfl_r18_fpn_6e_uavdt.py'
model = dict(bbox_head=dict(type='mmkd_dense.LightMLGFLHead'))
# registers the mmkd_dense.LightML*Head classes
custom_imports = dict(
    imports=['mmkd_dense', 'mmkd_dense.models.heads'],
    allow_failed_imports=False)
