# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Config checks that run before the Runner writes anything.

``tools/train.py`` calls :func:`preflight_check` before ``Runner.from_cfg``
(which creates the work dir and log file before building the model), so a
broken distillation config fails fast, names the config key, and leaves the
work dir untouched.
"""
import copy
import os.path as osp
from typing import Optional

import torch

__all__ = ['PreflightError', 'preflight_check', 'find_num_classes']


class PreflightError(RuntimeError):
    """A config problem found before training; the message names the key."""


def find_num_classes(model_cfg) -> Optional[int]:
    """First ``num_classes`` in a (nested) model config, or None."""
    if isinstance(model_cfg, dict):
        if 'num_classes' in model_cfg:
            return int(model_cfg['num_classes'])
        for value in model_cfg.values():
            found = find_num_classes(value)
            if found is not None:
                return found
    elif isinstance(model_cfg, (list, tuple)):
        for value in model_cfg:
            found = find_num_classes(value)
            if found is not None:
                return found
    return None


def _check_data_files(cfg) -> None:
    """Annotation files of the train set must exist (key named)."""
    loader = cfg.get('train_dataloader')
    if not loader:
        return
    dataset, key = loader.get('dataset', {}), 'train_dataloader.dataset'
    while isinstance(dataset, dict) and 'dataset' in dataset:
        dataset, key = dataset['dataset'], key + '.dataset'
    datasets = dataset.get('datasets', [dataset]) if isinstance(
        dataset, dict) else []
    for i, ds in enumerate(datasets):
        ann = ds.get('ann_file')
        if not ann or '://' in str(ann):
            continue
        path = ann if osp.isabs(ann) else osp.join(
            ds.get('data_root') or '', ann)
        if not osp.exists(path):
            sub = f'{key}.datasets[{i}]' if 'datasets' in dataset else key
            raise PreflightError(
                f'{sub}.ann_file: "{path}" does not exist. Set '
                f'{sub}.data_root to your dataset (see docs/datasets.md), '
                'e.g. --cfg-options '
                f'{sub}.data_root=/path/to/data/')


def preflight_check(cfg, dry_run: bool = True,
                    input_shape=(128, 160)) -> None:
    """Validate a (distillation) config without touching the work dir.

    1. train annotation file exists;
    2. ``model.teacher_ckpt`` exists (when set, local);
    3. the model builds: recorder sources, loss mappings and connectors are
       checked by :class:`~mmkd_dense.models.GTAwareDistiller` with messages
       naming the key;
    4. ``dry_run``: one ``model.loss`` on a synthetic 2-image batch (one
       without GT) under ``no_grad``, which catches student/teacher channel
       or shape mismatches and names the loss.

    Raises:
        PreflightError: with the config key and the fix in the message.
    """
    from mmengine.registry import MODELS, DefaultScope

    from mmkd_dense.models.algorithms import check_teacher_ckpt
    from mmkd_dense.models.distillers import DistillConfigError
    from mmkd_dense.utils.dummy_batch import make_dummy_batch
    from mmkd_dense.utils.pretrained import check_pretrained_weights

    # ImageNet backbone files in the torch hub cache (downloaded if online)
    check_pretrained_weights(cfg)
    _check_data_files(cfg)
    model_cfg = copy.deepcopy(cfg.model)
    try:
        check_teacher_ckpt(model_cfg.get('teacher_ckpt'))
    except FileNotFoundError as err:
        raise PreflightError(str(err)) from None
    scope = cfg.get('default_scope', 'mmdet')
    if DefaultScope.get_current_instance() is None:
        DefaultScope.get_instance('mmkd_dense_preflight', scope_name=scope)
    try:
        with DefaultScope.overwrite_default_scope(scope):
            model = MODELS.build(model_cfg)
    except (DistillConfigError, FileNotFoundError) as err:
        raise PreflightError(str(err)) from None
    if not dry_run:
        return
    num_classes = find_num_classes(model_cfg) or 1
    inputs, samples = make_dummy_batch(
        num_images=2, input_shape=input_shape, num_classes=num_classes,
        boxes_per_image=(2, 0))
    model.train()
    try:
        with torch.no_grad():
            model.loss(inputs, samples)
    except DistillConfigError as err:
        raise PreflightError(str(err)) from None
