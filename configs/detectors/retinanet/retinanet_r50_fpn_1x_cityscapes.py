# Copyright (c) mmkd_dense contributors. All rights reserved.
# RetinaNet R50-FPN, Cityscapes (8 classes, COCO bbox AP on val).
# ImageNet-pretrained R50 backbone (configs/_base_/models; README
# "Pretrained weights").
_base_ = [
    '../../_base_/models/retinanet_r50_fpn.py',
    '../../_base_/datasets/cityscapes_detection.py',
    '../../_base_/schedules/schedule_1x.py', '../../_base_/default_runtime.py'
]
model = dict(bbox_head=dict(num_classes=8))

# mmdet Cityscapes schedule: train set repeated 8x in the dataset config, so
# 8 epochs = 64 passes; lr 0.01 for 8 images (8 GPUs x 1), 500-iter warm-up,
# step after epoch 7. mmdet initialises Cityscapes detectors from a COCO
# checkpoint for its published numbers: set load_from='<local COCO .pth>'.
optim_wrapper = dict(optimizer=dict(lr=0.01))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
         end=500),
    dict(type='MultiStepLR', begin=0, end=8, by_epoch=True, milestones=[7],
         gamma=0.1)
]
train_cfg = dict(max_epochs=8)
auto_scale_lr = dict(enable=False, base_batch_size=8)
