# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Strict checkpoint loading with messages that name the config key.

mmengine's ``load_checkpoint`` (used by mmrazor for ``teacher_ckpt``, by
``load_from`` and by ``tools/test.py``) loads with ``strict=False`` and only
prints the missing / unexpected / mis-shaped keys, so a wrong checkpoint
trains or evaluates a partly random network. The helpers here read a
checkpoint once, compare every key and shape with the model, and raise
:class:`CheckpointMismatchError` with the counts, the first keys, the config
key and a hint (e.g. "this is a distillation checkpoint").

Everything they report goes through ``print_log(..., logger='current')``,
i.e. into the run log once a Runner exists.
"""
import os
import os.path as osp
from typing import Callable, Dict, List, Mapping, Optional, Tuple

__all__ = [
    'CheckpointLoadError', 'CheckpointMismatchError', 'StateDictDiff',
    'read_state_dict', 'compare_state_dicts', 'checkpoint_kind',
    'describe_mismatch', 'load_state_dict_strict', 'DISTILL_PREFIXES',
    'is_remote', 'log', 'check_teacher_ckpt'
]

#: Top-level key prefixes of a checkpoint written by a distillation run
#: (``SingleTeacherDistill``: student, teacher, distiller modules).
DISTILL_PREFIXES = ('architecture.', 'teacher.', 'distiller.')
_URL_PREFIXES = ('http://', 'https://', 's3://', 'torchvision://',
                 'open-mmlab://', 'modelzoo://', 'mmcls://', 'pavi://')
_SHOW = 5  # keys listed per category


class CheckpointLoadError(ValueError):
    """A checkpoint file cannot be read as a PyTorch state dict."""


class CheckpointMismatchError(KeyError):
    """A checkpoint's keys or shapes do not fit the model.

    A ``KeyError`` (what the DS2D2 amplifier loader raised before) whose
    ``str()`` is the plain multi-line message, not its ``repr``.
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ''


def log(msg: str, level: str = 'INFO') -> None:
    """``print_log`` to the current (run) logger."""
    import logging

    from mmengine.logging import print_log
    print_log(msg, logger='current', level=getattr(logging, level))


def is_remote(path: str) -> bool:
    """Whether ``path`` is a URL / model-zoo name mmengine downloads."""
    return isinstance(path, str) and path.startswith(_URL_PREFIXES)


def check_teacher_ckpt(teacher_ckpt: Optional[str],
                       key: str = 'model.teacher_ckpt') -> None:
    """Raise a readable error if ``teacher_ckpt`` is set but the local file
    does not exist (no torch import: the preflight calls it first).

    Args:
        teacher_ckpt (str, optional): the configured path.
        key (str): config key named in the message.
    """
    if not teacher_ckpt:
        return
    if not isinstance(teacher_ckpt, str):
        raise TypeError(f'{key} must be a path string, got '
                        f'{type(teacher_ckpt).__name__}.')
    if is_remote(teacher_ckpt):
        return  # remote: mmengine downloads it (needs network access).
    if not osp.isfile(teacher_ckpt):
        raise FileNotFoundError(
            f'{key}="{teacher_ckpt}" does not exist. Train the teacher first '
            '(python tools/train.py <teacher config>) or point '
            f'{key} at its checkpoint, e.g. --cfg-options '
            f'{key}=work_dirs/<teacher>/epoch_12.pth')


def _torch_load(path: str, mmap: bool) -> tuple:
    """``(checkpoint, whether it is memory-mapped)``."""
    import torch
    if mmap:
        try:
            return torch.load(path, map_location='cpu', mmap=True), True
        except RuntimeError as err:
            # legacy (non-zip) files cannot be memory-mapped
            if 'mmap' not in str(err) and 'zip' not in str(err):
                raise
    return torch.load(path, map_location='cpu'), False


#: memory-mapped state dicts kept by a check for the load that follows
#: (``(abspath, size, mtime) -> state``): the file is opened once per run.
_MAPPED: Dict[tuple, Dict[str, 'object']] = {}


def _file_id(path: str) -> tuple:
    stat = os.stat(path)
    return (osp.abspath(path), stat.st_size, stat.st_mtime_ns)


def read_state_dict(path: str, key: str, mmap: bool = False,
                    keep: bool = False) -> Dict[str, 'object']:
    """The state dict stored in a checkpoint file.

    Accepts ``dict(state_dict=..., ...)`` (mmengine / mmdet) and a bare state
    dict; strips the ``module.`` prefix of DDP-saved weights as mmengine
    does. URLs are fetched through mmengine (its download cache).

    Args:
        path (str): local path or URL.
        key (str): config key or CLI argument named in errors, e.g.
            ``'model.teacher_ckpt'``.
        mmap (bool): memory-map the tensors (only keys and shapes are read
            until a value is used); falls back to a normal read for legacy
            files.
        keep (bool): keep a memory-mapped result for the next call on the
            same unchanged file (which takes it), e.g. the preflight's
            check and the Runner's load; it costs no memory.

    Returns:
        dict[str, Tensor]: parameter / buffer name -> tensor.

    Raises:
        FileNotFoundError: the local file does not exist.
        CheckpointLoadError: the file is not a readable checkpoint, or holds
            no state dict.
    """
    if is_remote(path):
        from mmengine.runner.checkpoint import _load_checkpoint
        ckpt = _load_checkpoint(path, map_location='cpu')
    else:
        if not osp.isfile(path):
            raise FileNotFoundError(f'{key}="{path}" does not exist.')
        file_id = _file_id(path)
        if file_id in _MAPPED:
            state = _MAPPED.pop(file_id)
            if keep:
                _MAPPED[file_id] = state
            return state
        try:
            ckpt, mapped = _torch_load(path, mmap)
        except Exception as err:  # noqa: BLE001 - any unpickling failure
            raise CheckpointLoadError(
                f'{key}="{path}" is not a PyTorch checkpoint '
                f'({_what_file(path, err)}). Expected a .pth file written '
                'by tools/train.py (or torch.save of a state dict).'
            ) from None
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else ckpt
    if not isinstance(state, Mapping) or not state or not all(
            hasattr(v, 'shape') for v in state.values()):
        what = type(state).__name__ if not isinstance(state, Mapping) else (
            'an empty dict' if not state else 'a dict with non-tensor values')
        raise CheckpointLoadError(
            f'{key}="{path}" holds {what}, not a state dict of tensors '
            '(expected dict(state_dict={name: tensor}) as tools/train.py '
            'saves it).')
    if all(k.startswith('module.') for k in state):
        state = {k[len('module.'):]: v for k, v in state.items()}
    state = dict(state)
    if keep and not is_remote(path) and mapped:
        # file-backed tensors: keeping them costs no memory
        _MAPPED[file_id] = state
    return state


def _what_file(path: str, err: BaseException) -> str:
    """Describe a file torch could not load (instead of torch's message,
    e.g. ``IndexError: pop from empty list`` for a text file)."""
    import zipfile
    with open(path, 'rb') as f:
        head = f.read(200)
    if not head:
        return 'the file is empty'
    if not zipfile.is_zipfile(path):
        try:
            text = head.decode('utf-8')
        except UnicodeDecodeError:
            text = None
        if text is not None and all(c.isprintable() or c in '\n\r\t'
                                    for c in text):
            first = text.splitlines()[0][:60] if text.strip() else ''
            return f'it is a text file starting with "{first}"'
    detail = str(err).strip().splitlines()
    detail = detail[0][:300] if detail else ''
    return f'{type(err).__name__}: {detail}'


class StateDictDiff:
    """Keys of a checkpoint compared with those a model expects.

    Attributes:
        missing (list[str]): in the model, not in the checkpoint.
        unexpected (list[str]): in the checkpoint, not in the model.
        mismatched (list[tuple[str, tuple, tuple]]): ``(name, checkpoint
            shape, model shape)`` of keys in both with different shapes.
        num_expected (int): keys the model expects.
    """

    def __init__(self, missing: List[str], unexpected: List[str],
                 mismatched: List[Tuple[str, tuple, tuple]],
                 num_expected: int) -> None:
        self.missing = missing
        self.unexpected = unexpected
        self.mismatched = mismatched
        self.num_expected = num_expected

    @property
    def ok(self) -> bool:
        """True when every key is present with the right shape."""
        return not (self.missing or self.unexpected or self.mismatched)


def compare_state_dicts(expected: Mapping[str, 'object'],
                        found: Mapping[str, 'object']) -> StateDictDiff:
    """Compare the keys and shapes of ``found`` with ``expected``.

    Args:
        expected (Mapping[str, Tensor]): ``model.state_dict()``.
        found (Mapping[str, Tensor]): a checkpoint's state dict.
    """
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    mismatched = [(k, tuple(found[k].shape), tuple(expected[k].shape))
                  for k in expected
                  if k in found and tuple(found[k].shape) != tuple(
                      expected[k].shape)]
    return StateDictDiff(missing, unexpected, mismatched, len(expected))


def checkpoint_kind(state: Mapping[str, 'object']) -> str:
    """``'distillation'`` (``architecture.*``/``teacher.*`` keys),
    ``'amplifier'`` (``detector.*``: a DS2D2 HFAmplifierDetector) or
    ``'detector'`` (anything else)."""
    tops = {k.split('.', 1)[0] + '.' for k in state}
    if tops & {'architecture.', 'teacher.'}:
        return 'distillation'
    if tops == {'detector.'}:
        return 'amplifier'
    return 'detector'


def describe_mismatch(diff: StateDictDiff, key: str, path: str,
                      target: str, hint: str = '') -> str:
    """A readable multi-line description of ``diff``.

    Args:
        diff (StateDictDiff): the comparison.
        key (str): config key / CLI argument of the checkpoint.
        path (str): the checkpoint path.
        target (str): what it was loaded into, e.g. ``'the teacher
            (model.teacher)'``.
        hint (str): the fix, appended as the last line.
    """
    lines = [
        f'{key}="{path}" does not fit {target}: {len(diff.missing)} '
        f'missing, {len(diff.unexpected)} unexpected and '
        f'{len(diff.mismatched)} mis-shaped key(s) (the model has '
        f'{diff.num_expected}).'
    ]
    if diff.missing:
        lines.append(f'  missing (first {_SHOW}): {diff.missing[:_SHOW]}')
    if diff.unexpected:
        lines.append(
            f'  unexpected (first {_SHOW}): {diff.unexpected[:_SHOW]}')
    for name, ckpt_shape, model_shape in diff.mismatched[:_SHOW]:
        lines.append(f'  mis-shaped: {name}: checkpoint {list(ckpt_shape)}'
                     f' vs model {list(model_shape)}')
    if hint:
        lines.append(hint)
    return '\n'.join(lines)


def load_state_dict_strict(
        module, path: str, key: str, target: str,
        hint_fn: Optional[Callable[[Mapping, StateDictDiff], str]] = None,
        state: Optional[Mapping[str, 'object']] = None,
        check_only: bool = False) -> Dict[str, 'object']:
    """Load ``path`` into ``module`` only if every key and shape fits.

    Args:
        module (nn.Module): the model part to load into.
        path (str): checkpoint path (or URL).
        key (str): config key of the path (named in every message).
        target (str): words for ``module`` in messages.
        hint_fn (callable, optional): ``(state, diff) -> str`` fix to
            append to a mismatch message.
        state (Mapping, optional): an already read state dict of ``path``.
        check_only (bool): compare keys and shapes (tensors memory-mapped,
            data not read) without loading.

    Returns:
        dict: the checkpoint's state dict.

    Raises:
        CheckpointMismatchError: any missing, unexpected or mis-shaped key.
    """
    if state is None:
        # memory-mapped: the check reads keys and shapes only (and keeps the
        # mapping for the load that follows), a load reads each tensor once
        # while copying it into the module
        state = read_state_dict(path, key, mmap=True, keep=check_only)
    diff = compare_state_dicts(module.state_dict(), state)
    if not diff.ok:
        hint = hint_fn(state, diff) if hint_fn is not None else ''
        raise CheckpointMismatchError(
            describe_mismatch(diff, key, path, target, hint))
    if not check_only:
        module.load_state_dict(state, strict=True)
        log(f'{key}: loaded all {diff.num_expected} tensors of {target} '
            f'from {path}')
    return dict(state)
