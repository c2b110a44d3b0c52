# Copyright (c) mmkd_dense contributors. All rights reserved.
# DOTA v1.0 horizontal boxes (HBB), 15 classes, on 1024x1024 patches (gap 200)
# written as COCO json by tools/dataset_converters/dota_split.py (objects kept
# when intersection-over-self >= 0.7, clipped; difficult -> ignore/iscrowd).
# Train on train patches, validate on val patches; the metric reports patch
# mAP@0.5 and full-image mAP@0.5 after merging patch detections with NMS
# (DOTA devkit protocol, 11-point AP). For DOTA v1.5 (16 classes, split
# with --version v1.5) set version='v1.5' on the train/val datasets.
# Expected tree (docs/datasets.md): data/DOTA/{train,val}/{images,labelTxt}
# -> data/DOTA/split_1024/{train,val}/images/*.png,
#    data/DOTA/split_1024/annotations/{train,val}.json, {train,val}_full.json
dataset_type = 'mmkd_dense.DOTAPatchDataset'
data_root = 'data/DOTA/split_1024/'
backend_args = None

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(1024, 1024), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=(1024, 1024), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                    'scale_factor'))
]
train_dataloader = dict(
    batch_size=2,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=dict(type='AspectRatioBatchSampler'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/train.json',
        data_prefix=dict(img='train/images/'),
        filter_cfg=dict(filter_empty_gt=True, min_size=32),
        pipeline=train_pipeline,
        backend_args=backend_args))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/val.json',
        data_prefix=dict(img='val/images/'),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))
test_dataloader = val_dataloader

val_evaluator = dict(
    type='mmkd_dense.DOTAHBBMetric',
    full_ann_file=data_root + 'annotations/val_full.json',
    iou_thr=0.5,
    eval_mode='11points',
    merge_nms_iou_thr=0.3,
    patch_map=True)
test_evaluator = val_evaluator
