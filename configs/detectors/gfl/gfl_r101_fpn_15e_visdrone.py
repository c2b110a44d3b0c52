# GFL R101-FPN on VisDrone (drone protocol; see gfl_r50_fpn_15e_visdrone.py).
# Teacher of configs/cid_lightml/*gfl-r101*visdrone.py.
_base_ = './gfl_r50_fpn_15e_visdrone.py'
model = dict(
    backbone=dict(
        depth=101,
        init_cfg=dict(checkpoint='https://download.pytorch.org/models/'
                      'resnet101-63fe2227.pth')))
