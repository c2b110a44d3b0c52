# GFL R18-FPN with Light-ML in the head (CID + Light-ML student, arXiv
# 2411.02861), VisDrone drone protocol. Trained alone it is the Light-ML-only
# ablation (no KD); configs/cid_lightml/ distil into it.
# R18 settings as gfl_r18_fpn_15e_visdrone.py, written here (not inherited)
# so that distillation configs stay within three inheritance levels.
_base_ = './gfl_r50_fpn_15e_visdrone.py'
model = dict(
    backbone=dict(
        depth=18,
        init_cfg=dict(checkpoint='https://download.pytorch.org/models/'
                      'resnet18-f37072fd.pth')),
    neck=dict(in_channels=[64, 128, 256, 512]),
    bbox_head=dict(type='mmkd_dense.LightMLGFLHead'))
# registers the mmkd_dense.LightML*Head classes
custom_imports = dict(
    imports=['mmkd_dense', 'mmkd_dense.models.heads'],
    allow_failed_imports=False)
