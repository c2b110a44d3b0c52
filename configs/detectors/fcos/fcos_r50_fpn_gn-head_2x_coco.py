_base_ = [
    '../../_base_/models/fcos_r50_fpn_gn-head.py',
    '../../_base_/datasets/coco_detection.py',
    '../../_base_/schedules/schedule_2x.py', '../../_base_/default_runtime.py'
]
# FCOS: lr 0.01, no bias decay, doubled bias lr, grad clip 35 (mmdet).
optim_wrapper = dict(
    optimizer=dict(lr=0.01),
    paramwise_cfg=dict(bias_lr_mult=2., bias_decay_mult=0.),
    clip_grad=dict(max_norm=35, norm_type=2))
