# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Registries of mmkd_dense (scope ``mmkd_dense``).

Each registry is a direct child of the mmengine root registry, like mmdet's
and mmrazor's, so a config written in any scope can name our classes with the
``mmkd_dense.`` prefix, e.g. ``type='mmkd_dense.FGDLoss'`` inside an
``_scope_='mmrazor'`` model dict. ``locations`` makes the registry import the
modules that register into it on first lookup.
"""
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import TASK_UTILS as MMENGINE_TASK_UTILS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import Registry

MODELS = Registry(
    'model', parent=MMENGINE_MODELS, scope='mmkd_dense',
    locations=['mmkd_dense.models'])
TASK_UTILS = Registry(
    'task util', parent=MMENGINE_TASK_UTILS, scope='mmkd_dense',
    locations=['mmkd_dense.models'])
DATASETS = Registry(
    'dataset', parent=MMENGINE_DATASETS, scope='mmkd_dense',
    locations=['mmkd_dense.datasets'])
TRANSFORMS = Registry(
    'transform', parent=MMENGINE_TRANSFORMS, scope='mmkd_dense',
    locations=['mmkd_dense.datasets'])
METRICS = Registry(
    'metric', parent=MMENGINE_METRICS, scope='mmkd_dense',
    locations=['mmkd_dense.evaluation'])
HOOKS = Registry(
    'hook', parent=MMENGINE_HOOKS, scope='mmkd_dense',
    locations=['mmkd_dense.engine'])

__all__ = [
    'MODELS', 'TASK_UTILS', 'DATASETS', 'TRANSFORMS', 'METRICS', 'HOOKS'
]
