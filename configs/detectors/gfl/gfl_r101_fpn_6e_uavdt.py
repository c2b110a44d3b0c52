# GFL R101-FPN on UAVDT (drone protocol; see gfl_r18_fpn_6e_uavdt.py).
# Teacher of configs/cid_lightml/*gfl-r101*uavdt.py and
# configs/baselines/fgd/fgd_fpn_gfl-r101_gfl-r18_6e_uavdt.py.
_base_ = './gfl_r18_fpn_6e_uavdt.py'
model = dict(
    backbone=dict(
        depth=101,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://download.pytorch.org/models/'
            'resnet101-63fe2227.pth')),
    neck=dict(in_channels=[256, 512, 1024, 2048]))
