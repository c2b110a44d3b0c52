# GFL (GFLv1) R50-FPN on VisDrone2019-DET (10 classes), drone protocol of
# CEASC (Du et al., CVPR 2023; configs/UAV/baseline_gfl_res18_visdrone.py):
# 1333x800, RepeatDataset x5, 15 epochs (lr steps 11, 14), SGD lr 0.01 for
# 2 images/GPU, grad-clip 10, up to 500 detections per image.
# Not reproduced: CEASC's Albu colour/blur augmentation (albumentations is
# not a dependency) and its FPN width 512 (256 here so teacher heads can be
# reused by CID + Light-ML).
_base_ = [
    '../../_base_/models/gfl_r50_fpn.py',
    '../../_base_/datasets/visdrone.py',
    '../../_base_/schedules/schedule_1x.py', '../../_base_/default_runtime.py'
]
model = dict(bbox_head=dict(num_classes=10), test_cfg=dict(max_per_img=500))

train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='RepeatDataset',
        times=5,
        dataset=_base_.train_dataloader.dataset))
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=15, val_interval=1)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
         end=500),
    dict(type='MultiStepLR', begin=0, end=15, by_epoch=True,
         milestones=[11, 14], gamma=0.1)
]
optim_wrapper = dict(
    optimizer=dict(lr=0.01), clip_grad=dict(max_norm=10, norm_type=2))
