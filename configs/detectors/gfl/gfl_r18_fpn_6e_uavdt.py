# GFL (GFLv1) R18-FPN (256 ch) on UAVDT (3 classes: car, truck, bus), drone
# protocol of CEASC (Du et al., CVPR 2023; configs/UAV/
# baseline_gfl_res18_uavdt.py): 1024x540, RepeatDataset x5, 4 images/GPU,
# 6 epochs (lr steps 4, 5), SGD lr 0.01, grad-clip 10, up to 500 detections
# per image; metric: COCO AP and AP at IoU 0.7 (uavdt/AP70), see
# configs/_base_/datasets/uavdt.py. No-KD baseline of the CID + Light-ML
# student; the UAVDT detector configs of the other depths inherit this one.
# Not reproduced: CEASC's Albu augmentation and FPN width 512 (256 here so
# the teacher head can be reused by CID + Light-ML).
_base_ = [
    '../../_base_/models/gfl_r50_fpn.py', '../../_base_/datasets/uavdt.py',
    '../../_base_/schedules/schedule_1x.py', '../../_base_/default_runtime.py'
]
model = dict(
    backbone=dict(
        depth=18,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://download.pytorch.org/models/'
            'resnet18-f37072fd.pth')),
    neck=dict(in_channels=[64, 128, 256, 512]),
    bbox_head=dict(num_classes=3),
    test_cfg=dict(max_per_img=500))

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=6, val_interval=1)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
         end=500),
    dict(type='MultiStepLR', begin=0, end=6, by_epoch=True,
         milestones=[4, 5], gamma=0.1)
]
optim_wrapper = dict(
    optimizer=dict(lr=0.01), clip_grad=dict(max_norm=10, norm_type=2))
