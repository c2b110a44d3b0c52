# Copyright (c) mmkd_dense contributors. All rights reserved.
# VisDrone2019-DET, 10 classes (pedestrian ... motor). COCO json written by
# tools/dataset_converters/visdrone2coco.py: official category 0 (ignored
# region), 11 (others) and score-0 rows become class-agnostic ignore regions
# (iscrowd=1, one copy per class so pycocotools ignores detections of every
# class there); the dataset loads each region once as an ignored instance.
# Benchmark protocol: COCO-style AP@[.5:.95] with up to 500 detections per
# image -> CocoMetric proposal_nums=(1, 100, 500) (pycocotools reports AP at
# the 3rd value). Detector configs must also set
#   model.test_cfg.max_per_img = 500   (rcnn=dict(max_per_img=500) for
#   two-stage detectors) -- that belongs to the model, not to this file.
# mmkd_dense.VisDroneMetric gives the full official table (AP, AP50, AP75,
# AR1, AR10, AR100, AR500): see visdrone_full_evaluator below.
# Expected tree (docs/datasets.md): data/VisDrone/VisDrone2019-DET-{train,val,
#   test-dev}/{images,annotations}, data/VisDrone/annotations/*.json
dataset_type = 'mmkd_dense.VisDroneDataset'
data_root = 'data/VisDrone/'
backend_args = None

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(1333, 800), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=(1333, 800), keep_ratio=True),
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
        ann_file='annotations/VisDrone2019-DET_train.json',
        data_prefix=dict(img='VisDrone2019-DET-train/images/'),
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
        ann_file='annotations/VisDrone2019-DET_val.json',
        data_prefix=dict(img='VisDrone2019-DET-val/images/'),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))
test_dataloader = val_dataloader

val_evaluator = dict(
    type='CocoMetric',
    ann_file=data_root + 'annotations/VisDrone2019-DET_val.json',
    metric='bbox',
    proposal_nums=(1, 100, 500),
    format_only=False,
    backend_args=backend_args)
test_evaluator = val_evaluator
# Official VisDrone table (AP@[.5:.95], AP50, AP75 at 500 dets; AR@1/10/100/
# 500), same json: val_evaluator = _base_.visdrone_full_evaluator
visdrone_full_evaluator = dict(
    type='mmkd_dense.VisDroneMetric',
    ann_file=data_root + 'annotations/VisDrone2019-DET_val.json',
    max_dets=(1, 10, 100, 500))
