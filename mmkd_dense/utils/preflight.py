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
                    input_shape=(128, 160),
                    resume_from: Optional[str] = None) -> None:
    """Validate a (distillation) config without touching the work dir.

    1. ImageNet backbone files, train annotation file;
    2. ``model.teacher_ckpt`` exists (when set, local; not when the teacher
       is restored from ``resume_from``);
    3. the model builds: registered ``type`` names, recorder sources, loss
       mappings and connectors are checked with messages naming the key;
       the teacher (and DS2D2 amplifier) checkpoint is compared key by key
       and shape by shape with the model (memory-mapped: its tensors are
       read once, by the Runner's model);
    4. ``dry_run``: one ``model.loss`` on a synthetic 2-image batch (one
       without GT) under ``no_grad``, with the distiller translating loss
       failures into config hints (student/teacher channel or level-count
       mismatches name the loss and the mapping key); then the student's and
       the teacher's ``predict`` (the teacher's head also runs when only its
       features are distilled, so a head that does not fit its neck fails
       here, not at the first validation); a teacher whose class count
       differs from the student's is an error if a loss ran the teacher's
       head;
    5. ``resume_from``: the checkpoint to resume fits the model exactly.

    Raises:
        PreflightError: with the config key and the fix in the message.
    """
    from mmkd_dense.utils.pretrained import check_pretrained_weights
    from mmkd_dense.utils.strict_loading import check_teacher_ckpt

    # ImageNet backbone files in the torch hub cache (downloaded if online)
    check_pretrained_weights(cfg)
    _check_data_files(cfg)
    model_cfg = copy.deepcopy(cfg.model)
    if not model_cfg.get('teacher_restored_from'):
        try:
            check_teacher_ckpt(model_cfg.get('teacher_ckpt'))
        except FileNotFoundError as err:
            raise PreflightError(str(err)) from None
    # the checks above need no mmdet/mmrazor import; the model does
    from mmengine.registry import DefaultScope
    scope = cfg.get('default_scope', 'mmdet')
    if DefaultScope.get_current_instance() is None:
        DefaultScope.get_instance('mmkd_dense_preflight', scope_name=scope)
    with DefaultScope.overwrite_default_scope(scope):
        model = _build_model(model_cfg)
        if resume_from:
            _check_resume_checkpoint(model, resume_from)
        if dry_run:
            _dry_run(model, model_cfg, input_shape)


def _quiet_current_logger():
    """Raise the current logger to ERROR: the Runner builds the model again
    and logs its warnings into the run log; the preflight's copy would only
    repeat them on the console."""
    import contextlib
    import logging

    from mmengine.logging import MMLogger

    @contextlib.contextmanager
    def quiet():
        logger = MMLogger.get_current_instance()
        level = logger.level
        logger.setLevel(logging.ERROR)
        try:
            yield
        finally:
            logger.setLevel(level)

    return quiet()


def _build_model(model_cfg):
    """Build the model (teacher checkpoint checked, not loaded); every
    config error becomes a :class:`PreflightError`."""
    from mmengine.registry import MODELS

    from mmkd_dense.models.algorithms import teacher_weights_check_only
    from mmkd_dense.models.distillers import DistillConfigError
    from mmkd_dense.utils.strict_loading import (CheckpointLoadError,
                                                 CheckpointMismatchError)
    from mmkd_dense.utils.unknown_type import (find_type_keys,
                                               parse_unknown_type,
                                               unknown_type_message)
    try:
        with teacher_weights_check_only(), _quiet_current_logger():
            return MODELS.build(model_cfg)
    except (DistillConfigError, FileNotFoundError, CheckpointLoadError,
            CheckpointMismatchError) as err:
        raise PreflightError(str(err)) from None
    except KeyError as err:
        unknown = parse_unknown_type(err)
        if unknown is None:
            raise
        keys = find_type_keys(model_cfg, unknown[0], 'model')
        raise PreflightError(
            unknown_type_message(unknown[0], unknown[1], keys)) from None


def _check_resume_checkpoint(model, path: str) -> None:
    """The checkpoint to resume from must fit the model exactly."""
    from mmkd_dense.utils.strict_loading import (CheckpointLoadError,
                                                 checkpoint_kind,
                                                 compare_state_dicts,
                                                 describe_mismatch,
                                                 read_state_dict)
    try:
        state = read_state_dict(path, '--resume', mmap=True)
    except (FileNotFoundError, CheckpointLoadError) as err:
        raise PreflightError(str(err)) from None
    diff = compare_state_dicts(model.state_dict(), state)
    if diff.ok:
        return
    kind = checkpoint_kind(state)
    model_kind = 'distillation' if hasattr(model, 'teacher') else 'detector'
    hint = ('It was written by another config: resume with the config it '
            'was trained with (saved in its work dir).')
    if kind != model_kind:
        hint = (f'It is a {kind} checkpoint but the config builds a '
                f'{model_kind} model. ' + hint)
    raise PreflightError(describe_mismatch(
        diff, '--resume', path, f'the model of this config '
        f'({type(model).__name__})', hint))


def _head_modules(detector) -> list:
    heads = []
    for name in ('bbox_head', 'rpn_head', 'roi_head'):
        head = getattr(detector, name, None)
        if head is not None:
            heads.append(head)
    return heads


def _dry_run(model, model_cfg, input_shape) -> None:
    """One no-grad loss step, then student and teacher ``predict``."""
    from mmkd_dense.models.distillers import DistillConfigError
    from mmkd_dense.utils.dummy_batch import make_dummy_batch

    num_classes = find_num_classes(model_cfg) or 1
    inputs, samples = make_dummy_batch(
        num_images=2, input_shape=input_shape, num_classes=num_classes,
        boxes_per_image=(2, 0))
    teacher = getattr(model, 'teacher', None)
    distiller = getattr(model, 'distiller', None)
    head_ran = []
    handles = []
    if teacher is not None:
        for head in _head_modules(teacher):
            for module in head.modules():
                handles.append(module.register_forward_hook(
                    lambda *_: head_ran.append(True)))
    if distiller is not None and hasattr(distiller, 'explain_errors'):
        distiller.explain_errors = True
    mismatch = getattr(model, 'num_classes_mismatch', None)
    model.train()
    try:
        with torch.no_grad():
            model.loss(inputs, samples)
    except DistillConfigError as err:
        if mismatch and head_ran:  # the class counts are the cause
            raise PreflightError(_class_count_message(mismatch)) from None
        raise PreflightError(str(err)) from None
    finally:
        for handle in handles:
            handle.remove()
        if distiller is not None and hasattr(distiller, 'explain_errors'):
            distiller.explain_errors = False
    if mismatch and head_ran:
        raise PreflightError(_class_count_message(mismatch))
    _dry_run_predict(model, teacher, inputs, samples)


def _class_count_message(mismatch) -> str:
    return (f'model.teacher has {mismatch[0]} classes (its bbox_head.'
            f'num_classes) but model.architecture has {mismatch[1]}, and a '
            "distillation loss runs the teacher's head (class scores are "
            'compared class by class). Use a teacher trained on the '
            "student's classes (num_classes in model.teacher, e.g. "
            'model.teacher.cfg_options, and a matching model.teacher_ckpt).')


def _dry_run_predict(model, teacher, inputs, samples) -> None:
    """What the first validation runs: student (and teacher) ``predict``."""
    model.eval()
    try:
        with torch.no_grad():
            try:
                model(inputs, copy.deepcopy(samples), mode='predict')
            except (RuntimeError, ValueError, AssertionError, IndexError,
                    TypeError, KeyError) as err:
                key = 'model.architecture' if teacher is not None else 'model'
                raise PreflightError(
                    f'{key}: predict (what validation runs) fails on a '
                    f'synthetic batch: {type(err).__name__}: {err}. Check '
                    f'{key}.test_cfg and that its head fits its neck.'
                ) from None
            if teacher is None or not _head_modules(teacher):
                return
            try:
                teacher(inputs, copy.deepcopy(samples), mode='predict')
            except (RuntimeError, ValueError, AssertionError, IndexError,
                    TypeError, KeyError) as err:
                raise PreflightError(
                    "model.teacher: the teacher's head does not run on its "
                    f'neck outputs: {type(err).__name__}: {err}. Its '
                    'features may be distilled (teacher_forward="feat"), but '
                    'validation evaluates the teacher (teacher.* metrics) '
                    'and would fail after the first epoch. Check the '
                    "teacher head's in_channels against its neck's "
                    'out_channels (model.teacher).') from None
    finally:
        model.train()
