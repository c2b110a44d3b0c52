# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Turn a distillation checkpoint into a plain mmdet student checkpoint.

A distillation checkpoint holds the whole algorithm: ``architecture.*``
(the student), ``teacher.*``, ``distiller.*`` (connectors, KD-loss modules
such as adapters, context blocks, amplifier heads) and the optimiser state.
This script keeps only the student, renames ``architecture.x`` to ``x`` and
writes

- ``OUT``: ``dict(meta=..., state_dict=...)`` loadable by mmdet's
  ``tools/test.py`` / ``load_from`` / ``init_cfg=Pretrained``;
- ``OUT_CONFIG`` (default: ``OUT`` with ``.py``): the distillation config
  with ``model`` replaced by ``model.architecture`` (resolved if it was given
  as ``cfg_file``), ``val_cfg``/``test_cfg`` reset to the plain loops,
  distillation hooks removed and ``architecture.``-prefixed optimiser keys
  renamed. Everything else (data, schedule, runtime) is kept, so

      python tools/test.py OUT_CONFIG OUT

  reports the same mAP as ``python tools/test.py CONFIG CHECKPOINT``.

Usage::

    python tools/model_converters/extract_student.py CONFIG CHECKPOINT OUT \
        [--out-config OUT_CONFIG]
"""
import argparse
import copy
import datetime
import os
import os.path as osp
import pickle
import sys
import types
from collections import OrderedDict
from typing import Dict, Optional, Tuple

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

import mmkd_dense  # noqa: E402,F401  (compat shims before mmrazor imports)
import torch  # noqa: E402
from mmengine.config import Config, ConfigDict  # noqa: E402

__all__ = [
    'STUDENT_PREFIX', 'extract_student_state_dict', 'student_config',
    'extract_student', 'load_distill_checkpoint', 'main'
]

#: Prefix of the student's weights in mmrazor algorithms.
STUDENT_PREFIX = 'architecture.'

#: Top-level checkpoint entries that refer to the distillation model's
#: parameters or training state and are dropped.
_DROPPED_ENTRIES = ('optimizer', 'param_schedulers', 'message_hub',
                    'amp_loss_scaler')


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


def extract_student(config: str,
                    checkpoint: str,
                    out: str,
                    out_config: Optional[str] = None,
                    cfg_options: Optional[Dict] = None) -> Dict:
    """Write the student checkpoint and config.

    Returns:
        dict: ``checkpoint``, ``config`` (paths written), ``num_student``
        (entries kept) and ``dropped`` (entries dropped per prefix).
    """
    if osp.realpath(out) == osp.realpath(checkpoint):
        raise ValueError(
            f'output "{out}" is the input checkpoint; choose another path '
            '(the distillation checkpoint is never overwritten).')
    out_config = out_config or osp.splitext(out)[0] + '.py'
    if osp.realpath(out_config) == osp.realpath(config):
        raise ValueError(f'--out-config "{out_config}" is the input config.')
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    plain_cfg = student_config(cfg)

    ckpt = load_distill_checkpoint(checkpoint)
    state_dict = ckpt.get('state_dict', ckpt) if isinstance(ckpt,
                                                            dict) else ckpt
    student_sd, dropped = extract_student_state_dict(state_dict)
    meta = dict(ckpt.get('meta', {})) if 'state_dict' in ckpt else {}
    meta.update(
        extracted_from=osp.abspath(checkpoint),
        extracted_by='tools/model_converters/extract_student.py',
        extracted_at=datetime.datetime.now().isoformat(timespec='seconds'))
    meta['cfg'] = plain_cfg.pretty_text  # was the distillation config
    os.makedirs(osp.dirname(osp.abspath(out)) or '.', exist_ok=True)
    torch.save(dict(meta=meta, state_dict=student_sd), out)
    os.makedirs(osp.dirname(osp.abspath(out_config)) or '.', exist_ok=True)
    plain_cfg.dump(out_config)
    return dict(checkpoint=out, config=out_config,
                num_student=len(student_sd), dropped=dropped)


def parse_args(argv=None):
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(
        description='Extract the student of a distillation checkpoint into '
        'a plain mmdet checkpoint + config')
    parser.add_argument('config', help='the distillation config')
    parser.add_argument('checkpoint', help='the distillation checkpoint')
    parser.add_argument('out', help='output student checkpoint (.pth)')
    parser.add_argument('--out-config',
                        help='output student config (default: OUT with .py)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='overrides applied to the config first')
    return parser.parse_args(argv)


def main(argv=None) -> Dict:
    args = parse_args(argv)
    result = extract_student(args.config, args.checkpoint, args.out,
                             args.out_config, args.cfg_options)
    dropped = ', '.join(f'{k}: {v}' for k, v in sorted(
        result['dropped'].items())) or 'nothing'
    print(f'kept {result["num_student"]} student entries; dropped {dropped}')
    print(f'checkpoint: {result["checkpoint"]}\nconfig:     '
          f'{result["config"]}\nevaluate:   python tools/test.py '
          f'{result["config"]} {result["checkpoint"]}')
    return result


if __name__ == '__main__':
    main()
