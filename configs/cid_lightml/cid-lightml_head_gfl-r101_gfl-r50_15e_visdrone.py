# CID + Light-ML: GFL R101 -> GFL R50 (Light-ML head), VisDrone drone
# protocol. Same method settings as the R18 main pair.
#   1. python tools/train.py configs/detectors/gfl/gfl_r101_fpn_15e_visdrone.py
#   2. python tools/train.py {this config} \
#        --cfg-options model.teacher_ckpt=work_dirs/gfl_r101_fpn_15e_visdrone/epoch_15.pth
_base_ = ['./cid-lightml_head_gfl-r101_gfl-r18_15e_visdrone.py']

model = dict(
    architecture=dict(
        backbone=dict(
            depth=50,
            init_cfg=dict(checkpoint='https://download.pytorch.org/models/'
                          'resnet50-0676ba61.pth')),
        neck=dict(in_channels=[256, 512, 1024, 2048])))
