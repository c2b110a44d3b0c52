# Copyright (c) mmkd_dense contributors. All rights reserved.
"""The student of a distillation checkpoint: config, weights, model.

Shared by ``tools/model_converters/extract_student.py`` (writes a plain
student checkpoint) and ``tools/deployment/*`` (exports the student).

A distillation checkpoint holds the whole mmrazor algorithm:
``architecture.*`` (the student), ``teacher.*``, ``distiller.*`` and the
optimiser state. Only ``architecture.*`` is kept, without the prefix.
"""
import copy
import pickle
import types
from collections import OrderedDict
from typing import Dict, Optional, Tuple, Union

import torch
from mmengine.config import Config, ConfigDict
from torch import nn

__all__ = [
    'STUDENT_PREFIX', 'extract_student_state_dict', 'student_config',
    'load_distill_checkpoint', 'student_state_dict', 'load_student',
    'StudentCheckpointError'
]

#: Prefix of the student's weights in mmrazor algorithms.
STUDENT_PREFIX = 'architecture.'


def extract_student_state_dict(state_dict: Dict) -> Tuple[OrderedDict, Dict]:
    """Keep the ``architecture.*`` entries, without the prefix.

    Args:
        state_dict (dict): the distillation model's state dict.

    Returns:
        tuple[OrderedDict, dict]: the student state dict and, per dropped
        top-level prefix (``teacher``, ``distiller``, ...), how many
        entries were dropped.
    """
    student: OrderedDict = OrderedDict()
    dropped: Dict[str, int] = {}
    for key, value in state_dict.items():
        if key.startswith(STUDENT_PREFIX):
            student[key[len(STUDENT_PREFIX):]] = value
        else:
            head = key.split('.', 1)[0]
            dropped[head] = dropped.get(head, 0) + 1
    if not student:
        raise KeyError(
            'the checkpoint has no "architecture.*" weights: it is not a '
            'distillation checkpoint (or the student is already extracted). '
            f'Top-level prefixes found: {sorted(dropped)}.')
    return student, dropped


def _mentions_mmkd_dense(obj) -> bool:
    if isinstance(obj, dict):
        return any(_mentions_mmkd_dense(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return any(_mentions_mmkd_dense(v) for v in obj)
    return isinstance(obj, str) and obj.startswith('mmkd_dense.')


def student_config(cfg: Config) -> Config:
    """The plain-detector config of a distillation config's student.

    Args:
        cfg (Config): a distillation config (``model.architecture`` set).

    Returns:
        Config: a copy with ``model = model.architecture`` and the
        distillation-only settings reset.
    """
    from mmkd_dense.models.algorithms import resolve_detector_cfg
    if 'architecture' not in cfg.model:
        raise KeyError('model.architecture is missing: this is not a '
                       'distillation config (nothing to extract).')
    cfg = copy.deepcopy(cfg)
    student = resolve_detector_cfg(
        copy.deepcopy(cfg.model.architecture), 'model.architecture')
    if 'cfg_path' in student:
        raise ValueError(
            'model.architecture uses cfg_path (mmrazor hub config); write '
            'the student model dict into the config to extract it.')
    cfg.model = ConfigDict(student)
    cfg.val_cfg = ConfigDict(type='ValLoop')
    if 'test_cfg' in cfg and 'Distill' in str(cfg.test_cfg.get('type', '')):
        cfg.test_cfg = ConfigDict(type='TestLoop')
    for key in ('teacher_ckpt', ):
        cfg.pop(key, None)
    hooks = cfg.get('custom_hooks', None)
    if hooks:
        cfg.custom_hooks = [
            h for h in hooks if 'distill' not in str(h.get('type', '')).lower()
        ]
    optim = cfg.get('optim_wrapper', None)
    if optim and optim.get('paramwise_cfg', {}).get('custom_keys'):
        keys = optim.paramwise_cfg.custom_keys
        optim.paramwise_cfg.custom_keys = {
            (k[len(STUDENT_PREFIX):] if k.startswith(STUDENT_PREFIX) else k):
            v
            for k, v in keys.items()
        }
    if _mentions_mmkd_dense(cfg.model) and 'mmkd_dense' not in str(
            cfg.get('custom_imports', {})):
        cfg.custom_imports = dict(imports=['mmkd_dense'],
                                  allow_failed_imports=False)
    return cfg


class _CheckpointUnpickler(pickle.Unpickler):
    """Unpickler that only builds what an mmengine checkpoint holds.

    Used when torch's weights-only loader refuses a checkpoint saved by
    mmengine's ``Runner``: its ``message_hub`` pickles ``HistoryBuffer``
    statistics methods as ``getattr(HistoryBuffer, 'min')``, and
    ``builtins.getattr`` is not allow-listed. Here ``getattr`` is replaced
    by a function that only returns those statistics methods, and every
    other global must be one of the types mmengine writes.
    """

    _ALLOWED_MODULES = ('collections', 'numpy', 'numpy.dtypes',
                        'numpy.core.multiarray', 'numpy._core.multiarray',
                        '_codecs', 'torch._utils', 'torch',
                        'mmengine.logging.history_buffer')
    _ALLOWED_NAMES = {
        'collections': {'OrderedDict', 'defaultdict'},
        'numpy': {'dtype', 'ndarray'},
        'numpy.core.multiarray': {'_reconstruct', 'scalar'},
        'numpy._core.multiarray': {'_reconstruct', 'scalar'},
        '_codecs': {'encode'},
        'torch._utils': {'_rebuild_tensor_v2', '_rebuild_parameter'},
        'mmengine.logging.history_buffer': {'HistoryBuffer'},
    }

    def find_class(self, module: str, name: str):
        if module in ('builtins', '__builtin__') and name == 'getattr':
            return _history_buffer_getattr
        if module == 'numpy.dtypes' and name.endswith('DType'):
            return super().find_class(module, name)
        if module == 'torch' and (name.endswith('Storage')
                                  or name in ('device', 'Size')):
            return super().find_class(module, name)
        if name in self._ALLOWED_NAMES.get(module, ()):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f'{module}.{name} is not something an mmengine checkpoint '
            'holds; refusing to load it.')


def _history_buffer_getattr(obj, name: str):
    from mmengine.logging.history_buffer import HistoryBuffer
    if obj is HistoryBuffer and name in ('min', 'max', 'current', 'mean'):
        return getattr(obj, name)
    raise pickle.UnpicklingError(f'getattr({obj!r}, {name!r}) refused')


_checkpoint_pickle = types.SimpleNamespace(
    Unpickler=_CheckpointUnpickler, load=pickle.load,
    __name__='extract_student_checkpoint_pickle')


def load_distill_checkpoint(path: str) -> Dict:
    """Load a checkpoint on CPU: torch's weights-only loader first (with
    the ``mmkd_dense.compat`` allow-list), else a restricted unpickler that
    also accepts the ``HistoryBuffer`` statistics of mmengine's message
    hub (never an arbitrary global)."""
    try:
        return torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError:
        return torch.load(path, map_location='cpu', weights_only=False,
                          pickle_module=_checkpoint_pickle)


class StudentCheckpointError(ValueError):
    """The checkpoint does not hold weights of the configured student."""


def student_state_dict(ckpt: Dict) -> Tuple[OrderedDict, str]:
    """The student weights of a distillation or plain checkpoint.

    Args:
        ckpt (dict): a loaded checkpoint (``dict(state_dict=...)`` or a bare
            state dict).

    Returns:
        tuple[OrderedDict, str]: the student state dict and its origin,
        ``'distillation'`` (``architecture.*`` keys found) or ``'plain'``.
    """
    state_dict = ckpt.get('state_dict', ckpt) if isinstance(ckpt,
                                                            dict) else None
    if not isinstance(state_dict, dict) or not all(
            isinstance(v, torch.Tensor) for v in state_dict.values()):
        raise StudentCheckpointError(
            'the checkpoint holds no state dict (expected dict(state_dict='
            '{name: tensor}) as written by mmengine or torch.save).')
    if any(k.startswith(STUDENT_PREFIX) for k in state_dict):
        student, _ = extract_student_state_dict(state_dict)
        return student, 'distillation'
    return OrderedDict(state_dict), 'plain'


def _mismatch_report(model: nn.Module, state_dict: Dict) -> Optional[str]:
    """Missing/unexpected keys and shape mismatches (None when none)."""
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    shapes = [
        f'{k}: checkpoint {tuple(state_dict[k].shape)} vs config '
        f'{tuple(v.shape)}' for k, v in own.items()
        if k in state_dict and tuple(state_dict[k].shape) != tuple(v.shape)
    ]
    if not (missing or unexpected or shapes):
        return None

    def few(items):
        return ', '.join(items[:4]) + (
            f' (+{len(items) - 4} more)' if len(items) > 4 else '')

    parts = []
    if shapes:
        parts.append(f'{len(shapes)} shape mismatch(es): {few(shapes)}')
    if missing:
        parts.append(f'{len(missing)} weight(s) of the config missing from '
                     f'the checkpoint: {few(missing)}')
    if unexpected:
        parts.append(f'{len(unexpected)} checkpoint weight(s) the config '
                     f'has no place for: {few(unexpected)}')
    return '; '.join(parts)


def load_student(cfg: Union[str, Config],
                 checkpoint: Optional[str] = None,
                 cfg_options: Optional[Dict] = None
                 ) -> Tuple[nn.Module, Config]:
    """Build the student detector of ``cfg`` and load its weights.

    Args:
        cfg (str | Config): a distillation config (its
            ``model.architecture`` is the student) or a plain detector
            config.
        checkpoint (str, optional): a distillation checkpoint
            (``architecture.*`` weights) or a plain student checkpoint; its
            weights must fit the student exactly. None keeps the random
            initialisation.
        cfg_options (dict, optional): dotted-key overrides merged first.

    Returns:
        tuple[nn.Module, Config]: the student in eval mode on CPU and its
        plain detector config.

    Raises:
        StudentCheckpointError: the checkpoint's weights do not fit the
            student of the config (the message lists what differs).
    """
    from mmkd_dense.testing import build_model_from_cfg
    config_name = cfg if isinstance(cfg, str) else (cfg.filename or 'config')
    if isinstance(cfg, str):
        cfg = Config.fromfile(cfg)
    else:
        cfg = copy.deepcopy(cfg)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    plain_cfg = student_config(cfg) if 'architecture' in cfg.model else cfg
    model = build_model_from_cfg(plain_cfg)
    if checkpoint is not None:
        state_dict, origin = student_state_dict(
            load_distill_checkpoint(checkpoint))
        problem = _mismatch_report(model, state_dict)
        if problem:
            raise StudentCheckpointError(
                f'checkpoint "{checkpoint}" ({origin} checkpoint) does not '
                f'fit the student of config "{config_name}" '
                f'({plain_cfg.model.type} with '
                f'{plain_cfg.model.get("bbox_head", {}).get("type", "?")}): '
                f'{problem}. Pass the config the checkpoint was trained '
                'with.')
        model.load_state_dict(state_dict, strict=True)
    model.eval()
    return model, plain_cfg
