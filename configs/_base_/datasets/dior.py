# Copyright (c) mmkd_dense contributors. All rights reserved.
# DIOR (Li et al., 2020) horizontal-box detection: 20 classes, 800x800 jpg,
# official VOC-style XML. Train on train+val (11725 images), test on test
# (11738 images); VOC mAP@0.5 ('area' interpolation, set explicitly).
# Expected tree (docs/datasets.md):
#   data/DIOR/JPEGImages-trainval/*.jpg, data/DIOR/JPEGImages-test/*.jpg,
#   data/DIOR/Annotations/*.xml  (DIOR)  or
#   data/DIOR/Annotations/Horizontal Bounding Boxes/*.xml  (DIOR-R; found
#   automatically when data_prefix.ann points at Annotations/),
#   data/DIOR/ImageSets/Main/{train,val,test}.txt
# Class names in the XML are matched case-insensitively (the XMLs mix
# 'Expressway-Service-area' / 'expressway-service-area'); an unknown name is
# an error naming the file (or counted and skipped with on_bad_input='skip').
dataset_type = 'mmkd_dense.DIORDataset'
data_root = 'data/DIOR/'
backend_args = None

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(800, 800), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=(800, 800), keep_ratio=True),
    # annotations after Resize: GT boxes stay in original-image pixels
    dict(type='LoadAnnotations', with_bbox=True),
    # 'instances' lets CocoMetric(ann_file=None) build its GT on the fly
    # (see dior_coco_evaluator below); VOCMetric does not need it.
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                    'scale_factor', 'instances'))
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
        # official DIOR ships train.txt and val.txt: trainval = both
        ann_file='ImageSets/Main/train.txt',
        extra_ann_files=['ImageSets/Main/val.txt'],
        data_prefix=dict(img='JPEGImages-trainval/', ann='Annotations/'),
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
        ann_file='ImageSets/Main/test.txt',
        data_prefix=dict(img='JPEGImages-test/', ann='Annotations/'),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))
test_dataloader = val_dataloader

# VOC mAP@0.5 over the 20 classes, area-under-PR interpolation.
val_evaluator = dict(
    type='VOCMetric', metric='mAP', iou_thrs=[0.5], eval_mode='area')
test_evaluator = val_evaluator
# COCO-style AP@[.5:.95] option; GT is built from the test pipeline's
# 'instances' meta, so no json is needed. Use it with
#   val_evaluator = _base_.dior_coco_evaluator  (or a list of both).
dior_coco_evaluator = dict(type='CocoMetric', ann_file=None, metric='bbox')
