# mmdet 3.3 default runtime, plus the mmkd_dense plugin import (it applies
# the torch-2.x compat shims before mmrazor is imported), a crash-safe
# checkpoint hook (write to a temporary name + rename; old checkpoints are
# deleted only after the new one and last_checkpoint are complete; a model
# with NaN/Inf weights is never saved) and a NaN/Inf guard that stops
# training at the first non-finite loss or grad norm, naming the loss terms.
# A config that sets its own custom_hooks list replaces this one: keep
# dict(type='mmkd_dense.NonFiniteGuardHook') in it.
default_scope = 'mmdet'
custom_imports = dict(imports=['mmkd_dense'], allow_failed_imports=False)

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='mmkd_dense.SafeCheckpointHook', interval=1),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='DetVisualizationHook'))

custom_hooks = [dict(type='mmkd_dense.NonFiniteGuardHook')]

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'))

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(
    type='DetLocalVisualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(type='LogProcessor', window_size=50, by_epoch=True)

log_level = 'INFO'
load_from = None
resume = False
