# FCOS R50-FPN (GN head) on VisDrone2019-DET (10 classes), drone protocol:
# 1333x800, RepeatDataset x5, 15 epochs (steps 11, 14), SGD lr 0.01 (FCOS:
# doubled bias lr, no bias decay), grad-clip 10, up to 500 detections.
_base_ = [
    '../../_base_/models/fcos_r50_fpn_gn-head.py',
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
    optimizer=dict(lr=0.01),
    paramwise_cfg=dict(bias_lr_mult=2., bias_decay_mult=0.),
    clip_grad=dict(max_norm=10, norm_type=2))
