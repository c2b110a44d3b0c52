# Copyright (c) mmkd_dense contributors. All rights reserved.
# UAVDT (Du et al., ECCV 2018), DET task: 3 classes (car, truck, bus) on the
# UAV-benchmark-M frames, common split of 30 train / 20 test sequences. COCO
# json written by tools/dataset_converters/uavdt2coco.py: the boxes of
# M####_gt_ignore.txt become class-agnostic ignore regions (iscrowd=1, one
# copy per class); mmkd_dense.VisDroneDataset (the VisDrone class, used here
# with the UAVDT class list) loads each copy as an ignored instance, so
# nothing is trained on them, and reports bad annotations instead of
# dropping them silently.
# Drone protocol of CEASC (Du et al., CVPR 2023; configs/UAV/
# baseline_gfl_res18_uavdt.py), docs/methods.md section 3: 1024x540,
# RepeatDataset x5, 4 images per GPU (6 epochs, steps 4/5: detector
# configs). Not reproduced: CEASC's Albu augmentation.
# Metric: mmkd_dense.UAVDTMetric = COCO AP@[.5:.95] and AP at IoU 0.7 (the
# UAVDT protocol, key uavdt/AP70), plus AP50/AP75 and AR, ignore regions
# honoured, up to 500 detections per image (detector configs set
# model.test_cfg.max_per_img = 500).
# Expected tree (docs/datasets.md): data/UAVDT/UAV-benchmark-M/M####/
#   img######.jpg, data/UAVDT/UAV-benchmark-MOTD_v1.0/GT/M####_gt_*.txt,
#   data/UAVDT/annotations/UAVDT_{train,test}.json (converter output)
dataset_type = 'mmkd_dense.VisDroneDataset'
data_root = 'data/UAVDT/'
backend_args = None
# = mmkd_dense.datasets.converters.uavdt.UAVDT_CLASSES (category ids 1..3)
metainfo = dict(
    classes=('car', 'truck', 'bus'),
    palette=[(220, 20, 60), (0, 0, 142), (0, 60, 100)])

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(1024, 540), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=(1024, 540), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                    'scale_factor'))
]
train_dataloader = dict(
    batch_size=4,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=dict(type='AspectRatioBatchSampler'),
    dataset=dict(
        type='RepeatDataset',
        times=5,
        dataset=dict(
            type=dataset_type,
            metainfo=metainfo,
            data_root=data_root,
            ann_file='annotations/UAVDT_train.json',
            data_prefix=dict(img='UAV-benchmark-M/'),
            filter_cfg=dict(filter_empty_gt=True, min_size=32),
            pipeline=train_pipeline,
            backend_args=backend_args)))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        metainfo=metainfo,
        data_root=data_root,
        ann_file='annotations/UAVDT_test.json',
        data_prefix=dict(img='UAV-benchmark-M/'),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))
test_dataloader = val_dataloader

val_evaluator = dict(
    type='mmkd_dense.UAVDTMetric',
    ann_file=data_root + 'annotations/UAVDT_test.json',
    max_dets=(1, 10, 100, 500),
    backend_args=backend_args)
test_evaluator = val_evaluator
# Plain mmdet route (COCO table only, no AP70), same json:
#   val_evaluator = _base_.uavdt_coco_evaluator
uavdt_coco_evaluator = dict(
    type='CocoMetric',
    ann_file=data_root + 'annotations/UAVDT_test.json',
    metric='bbox',
    proposal_nums=(1, 100, 500),
    format_only=False,
    backend_args=backend_args)
