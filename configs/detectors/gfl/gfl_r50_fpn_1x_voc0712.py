# Copyright (c) mmkd_dense contributors. All rights reserved.
# GFL R50-FPN, PASCAL VOC 07+12 (20 classes; test on VOC2007 test, 11-point mAP@0.5).
# ImageNet-pretrained R50 backbone (configs/_base_/models; README
# "Pretrained weights").
_base_ = [
    '../../_base_/models/gfl_r50_fpn.py',
    '../../_base_/datasets/voc0712.py', '../../_base_/default_runtime.py'
]
model = dict(bbox_head=dict(num_classes=20))

# mmdet VOC schedule: the 07+12 trainval set is repeated 3x in the dataset
# config, so 4 epochs = 12 passes; lr 0.01 for 16 images, step after epoch 3;
# 500-iter linear warm-up as in this family's COCO schedule.
max_epochs = 4
train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
         end=500),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True,
         milestones=[3], gamma=0.1)
]
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001))
auto_scale_lr = dict(enable=False, base_batch_size=16)
