# Copyright (c) mmkd_dense contributors. All rights reserved.
"""A ConfigurableDistiller that also hands the batch's GT to its losses."""
import difflib
import functools
import inspect
import warnings
from typing import Any, Dict, Optional, Union

from mmrazor.models.distillers import ConfigurableDistiller
from torch import nn

from mmkd_dense.registry import MODELS
from mmkd_dense.structures import DistillBatchContext
from mmkd_dense.utils.unknown_type import (find_type_keys,
                                           parse_unknown_type, suggest_types,
                                           unknown_type_message)

__all__ = [
    'GTAwareDistiller', 'BATCH_CONTEXT_ARG', 'ALL_RECORDS',
    'DistillConfigError'
]

#: Name of the ``forward`` parameter through which a loss receives the batch.
BATCH_CONTEXT_ARG = 'batch_context'

#: ``record_idx`` value that hands a loss the list of all the recorder's
#: records of the step (e.g. a shared head conv called once per FPN level).
ALL_RECORDS = 'all'

_CFG = 'model.distiller'


class DistillConfigError(ValueError):
    """A distillation config is inconsistent; the message names the key."""


def _connector_outputs_once(method):
    """Run ``method`` (``compute_distill_losses``) with a fresh memo of
    connector outputs, cleared when it returns or raises: each (recorder,
    record, data_idx, connector) output is computed once per call however
    many loss arguments map it, and never reused in a later step."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        self._connector_outputs = {}
        try:
            return method(self, *args, **kwargs)
        finally:
            self._connector_outputs = None

    return wrapper


def _suggest(name: str, choices) -> str:
    close = difflib.get_close_matches(name, list(choices), n=3)
    return f' Did you mean {close}?' if close else ''


@MODELS.register_module()
class GTAwareDistiller(ConfigurableDistiller):
    """``ConfigurableDistiller`` whose losses can read GT boxes, labels,
    image metas and the input shape of the batch.

    A loss opts in by declaring a ``batch_context`` argument in its
    ``forward``; it then receives the
    :class:`~mmkd_dense.structures.DistillBatchContext` given to
    :meth:`compute_distill_losses`, in addition to the tensors mapped by
    ``loss_forward_mappings``. Losses without that argument (all of
    mmrazor's) work unchanged. A loss that needs a network part (a head, an
    assigner) gets it once at build time through its own
    ``prepare_from_student`` / ``prepare_from_teacher``.

    Compared with mmrazor's distiller, config mistakes raise
    :class:`DistillConfigError` naming the offending key (unknown recorder,
    unknown connector, unmapped loss argument, a recorder ``source`` that
    names no module, a ``type`` that is not registered, a ``data_idx`` /
    ``record_idx`` beyond what the recorder captured).

    A loss that fails during a training step raises its own exception
    unchanged (a note names the loss). Only when :attr:`explain_errors` is
    True (set by the preflight dry run of ``tools/train.py``) is a failure
    turned into a :class:`DistillConfigError` with the input shapes and the
    connector hint.

    Args:
        Same as :class:`mmrazor.models.ConfigurableDistiller`.
    """

    def __init__(self, **kwargs) -> None:
        #: translate loss failures into config hints (preflight only)
        self.explain_errors = False
        for side in ('student_recorders', 'teacher_recorders'):
            _check_recorder_types(kwargs.get(side), side)
        super().__init__(**kwargs)
        self._context_losses = {
            name for name, loss in self.distill_losses.items()
            if BATCH_CONTEXT_ARG in inspect.signature(loss.forward).parameters
        }

    #: connector outputs of the running ``compute_distill_losses`` call
    #: (None outside it), see :func:`_connector_outputs_once`
    _connector_outputs: Optional[Dict] = None

    @_connector_outputs_once
    def compute_distill_losses(
            self,
            batch_context: Optional[DistillBatchContext] = None) -> Dict:
        """Compute each configured loss, adding ``batch_context`` where the
        loss asks for it.

        Args:
            batch_context (DistillBatchContext, optional): the batch's GT and
                metas (``GTAwareDistill.loss`` builds it); needed when a
                configured loss has a ``batch_context`` argument.

        An exception of a loss propagates unchanged (with a note naming the
        loss) unless :attr:`explain_errors` is set (preflight dry run).
        """
        losses = dict()
        for loss_name, forward_mappings in self.loss_forward_mappings.items():
            kwargs = {
                key: self._get_record_checked(loss_name, key, record)
                for key, record in forward_mappings.items()
            }
            if loss_name in self._context_losses:
                if batch_context is None:
                    raise RuntimeError(
                        f'{_CFG}.distill_losses.{loss_name} needs the batch '
                        'GT (it has a `batch_context` argument) but '
                        'compute_distill_losses() was called without one. '
                        "Use model.type='mmkd_dense.GTAwareDistill' as the "
                        'algorithm.')
                kwargs[BATCH_CONTEXT_ARG] = batch_context
            loss = self.distill_losses[loss_name]
            try:
                losses[loss_name] = loss(**kwargs)
            except Exception as err:
                if self.explain_errors and isinstance(
                        err, (RuntimeError, ValueError, AssertionError,
                              IndexError, TypeError)) and \
                        not _is_out_of_memory(err):
                    raise _explained(loss_name, loss, kwargs, err) from err
                if hasattr(err, 'add_note'):
                    err.add_note(f'(raised by {_CFG}.distill_losses.'
                                 f'{loss_name}, {type(loss).__name__})')
                raise
        return losses

    def _get_record_checked(self, loss_name: str, arg: str,
                            record: Dict) -> Any:
        """``get_record`` with the mapping key named when ``record_idx`` or
        ``data_idx`` points past what the recorder captured (mmrazor:
        ``AssertionError: data_idx is illegal``)."""
        from_student = record.get('from_student')
        side = 'student' if from_student else 'teacher'
        manager = self.student_recorders if from_student \
            else self.teacher_recorders
        name = record.get('recorder')
        recorder = manager.recorders.get(name)
        if recorder is not None:
            key = f'{_CFG}.loss_forward_mappings.{loss_name}.{arg}'
            where = (f'{_CFG}.{side}_recorders.{name} (source '
                     f'"{getattr(recorder, "source", "?")}")')
            buffer = recorder.data_buffer
            record_idx = record.get('record_idx', 0)
            data_idx = record.get('data_idx')
            every = record_idx == ALL_RECORDS
            if (not buffer) if every else record_idx >= len(buffer):
                ran = ('the module did not run in this step' if not buffer
                       else f'it recorded {len(buffer)} call(s)')
                extra = (' With model.teacher_forward="feat" only the '
                         "teacher's backbone and neck run; use 'tensor' to "
                         'record head outputs.') if (
                             not buffer and not from_student) else ''
                raise DistillConfigError(
                    f'{key}: record_idx={record_idx}, but {where}: {ran}.'
                    + extra)
            data = buffer[0 if every else record_idx]
            if data_idx is not None and isinstance(data, (list, tuple)) \
                    and data_idx >= len(data):
                loss_type = type(self.distill_losses[loss_name]).__name__
                raise DistillConfigError(
                    f'{key}: data_idx={data_idx}, but {where} recorded '
                    f'{len(data)} outputs (indices 0..{len(data) - 1}): '
                    f"the {side}'s {getattr(recorder, 'source', 'module')} "
                    f'has fewer levels than {_CFG}.distill_losses.'
                    f'{loss_name} ({loss_type}) expects. Give both '
                    'networks the same number of FPN levels (the '
                    f"{side}'s neck.num_outs) or remove "
                    f'{loss_name} from {_CFG}.distill_losses and '
                    f'{_CFG}.loss_forward_mappings.')
        return self.get_record(**record)

    # ------------------------------------------------------------------ #
    # building losses and connectors with the key named
    # ------------------------------------------------------------------ #
    def build_distill_losses(
            self, losses: Optional[Dict[str, Dict]] = None) -> nn.ModuleDict:
        """Build each loss; an error names
        ``model.distiller.distill_losses.<name>``."""
        built = nn.ModuleDict()
        for name, cfg in (losses or {}).items():
            if 'loss' not in name:
                warnings.warn(
                    f'{_CFG}.distill_losses.{name}: a loss that needs to '
                    'backward must have "loss" in its name (mmengine sums '
                    'only those).', UserWarning)
            built[name] = _build_named(cfg, f'{_CFG}.distill_losses.{name}')
        return built

    def build_connectors(
            self,
            connectors: Optional[Dict[str, Dict]] = None) -> nn.ModuleDict:
        """Build each connector; an error names
        ``model.distiller.connectors.<name>``."""
        built = nn.ModuleDict()
        for name, cfg in (connectors or {}).items():
            built[name] = _build_named(cfg, f'{_CFG}.connectors.{name}')
        return built

    # ------------------------------------------------------------------ #
    # recorder preparation with readable errors
    # ------------------------------------------------------------------ #
    def prepare_from_student(self, model: nn.Module) -> None:
        """Check recorder sources, then hook the student recorders."""
        _check_recorder_sources(self.student_recorders, model,
                                'student_recorders', 'student')
        super().prepare_from_student(model)
        self._prepare_parts('prepare_from_student', model)

    def prepare_from_teacher(self, model: nn.Module) -> None:
        """Check recorder sources, then hook the teacher recorders."""
        _check_recorder_sources(self.teacher_recorders, model,
                                'teacher_recorders', 'teacher')
        super().prepare_from_teacher(model)
        self._prepare_parts('prepare_from_teacher', model)

    def _prepare_parts(self, hook: str, model: nn.Module) -> None:
        """Call ``hook`` (``prepare_from_student`` / ``_teacher``) of every
        loss and connector that defines it, once, at build time: the way a
        loss gets handles on network parts (a teacher head, the student
        head's assigner) named in its config. An error names
        ``model.distiller.distill_losses.<name>`` (or ``connectors``)."""
        for group, parts in (('distill_losses', self.distill_losses),
                             ('connectors', self.connectors)):
            for name, part in parts.items():
                prepare = getattr(part, hook, None)
                if not callable(prepare):
                    continue
                try:
                    prepare(model)
                except DistillConfigError:
                    raise
                except Exception as err:  # noqa: BLE001 - re-raised, keyed
                    raise DistillConfigError(
                        f'{_CFG}.{group}.{name} ({type(part).__name__}).'
                        f'{hook}: {type(err).__name__}: {err}') from err

    def get_record(self,
                   recorder: str,
                   from_student: bool,
                   record_idx: Union[int, str] = 0,
                   data_idx: Optional[int] = None,
                   connector: Optional[str] = None,
                   connector_idx: Optional[int] = None) -> Any:
        """mmrazor's ``get_record``; ``record_idx='all'`` gives the list of
        every record of the step (``data_idx`` / ``connector`` applied to
        each), e.g. one per FPN level of a shared head conv.

        Inside :meth:`compute_distill_losses` a connector runs once per
        (recorder, side, record_idx, data_idx, connector): further mappings
        of the same record through the same connector get the same output
        tensor (so the connector's gradient sums over the losses)."""
        if record_idx != ALL_RECORDS:
            return self._memo_record(recorder, from_student, record_idx,
                                     data_idx, connector, connector_idx)
        manager = self.student_recorders if from_student \
            else self.teacher_recorders
        count = len(manager.get_recorder(recorder).data_buffer)
        return [
            self._memo_record(recorder, from_student, i, data_idx, connector,
                              connector_idx) for i in range(count)
        ]

    def _memo_record(self, recorder: str, from_student: bool,
                     record_idx: int, data_idx: Optional[int],
                     connector: Optional[str],
                     connector_idx: Optional[int]) -> Any:
        """One record, its connector output taken from (or stored in) the
        memo of the running ``compute_distill_losses`` call."""
        memo = self._connector_outputs
        if not connector or memo is None:
            return super().get_record(recorder, from_student, record_idx,
                                      data_idx, connector, connector_idx)
        key = (recorder, from_student, record_idx, data_idx, connector)
        if key not in memo:
            memo[key] = super().get_record(recorder, from_student,
                                           record_idx, data_idx, connector)
        output = memo[key]
        return output if connector_idx is None else output[connector_idx]

    def _check_loss_forward_mappings(self, losses, loss_forward_mappings,
                                     student_recorders,
                                     teacher_recorders) -> None:
        """Validate ``loss_forward_mappings`` with messages that name the
        config key (mmrazor uses bare asserts)."""
        if not isinstance(loss_forward_mappings, dict):
            raise DistillConfigError(
                f'{_CFG}.loss_forward_mappings must be a dict, got '
                f'{type(loss_forward_mappings).__name__}.')
        for loss_name, mapping in loss_forward_mappings.items():
            key = f'{_CFG}.loss_forward_mappings.{loss_name}'
            if loss_name not in losses:
                raise DistillConfigError(
                    f'{key}: no loss named "{loss_name}" in {_CFG}.'
                    f'distill_losses (has {list(losses)}).' +
                    _suggest(loss_name, losses))
            if not isinstance(mapping, dict):
                raise DistillConfigError(
                    f'{key} must be a dict of forward arguments, got '
                    f'{type(mapping).__name__}.')
            loss = losses[loss_name]
            params = inspect.signature(loss.forward).parameters
            for arg, record in mapping.items():
                if arg not in params:
                    raise DistillConfigError(
                        f'{key}.{arg}: {type(loss).__name__}.forward has no '
                        f'argument "{arg}" (it takes {list(params)}).')
                if arg == BATCH_CONTEXT_ARG:
                    raise DistillConfigError(
                        f'{key}.{arg} is filled by the distiller; remove it '
                        'from the mapping.')
                self._check_record(f'{key}.{arg}', record, student_recorders,
                                   teacher_recorders)
            missing = [
                name for name, p in params.items()
                if p.default is p.empty and name not in mapping
                and name != BATCH_CONTEXT_ARG
                and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
            ]
            if missing:
                raise DistillConfigError(
                    f'{key} does not map the required argument(s) {missing} '
                    f'of {type(loss).__name__}.forward.')
        unmapped = set(losses) - set(loss_forward_mappings)
        if unmapped:
            raise DistillConfigError(
                f'{_CFG}.distill_losses {sorted(unmapped)} have no entry in '
                f'{_CFG}.loss_forward_mappings, so they would never run.')

    def _check_record(self, key: str, record: Dict, student_recorders,
                      teacher_recorders) -> None:
        if not isinstance(record, dict):
            raise DistillConfigError(
                f'{key} must be a dict(recorder=..., from_student=...).')
        for field in ('recorder', 'from_student'):
            if field not in record:
                raise DistillConfigError(f'{key} lacks "{field}".')
        if not isinstance(record['from_student'], bool):
            raise DistillConfigError(
                f'{key}.from_student must be True or False.')
        side = 'student' if record['from_student'] else 'teacher'
        manager = (student_recorders
                   if record['from_student'] else teacher_recorders)
        name = record['recorder']
        if name not in manager.recorders:
            raise DistillConfigError(
                f'{key}.recorder="{name}" is not a key of {_CFG}.'
                f'{side}_recorders (has {list(manager.recorders)}).' +
                _suggest(name, manager.recorders))
        record_idx = record.get('record_idx', 0)
        if record_idx != ALL_RECORDS and (
                not isinstance(record_idx, int)
                or isinstance(record_idx, bool)):
            raise DistillConfigError(
                f'{key}.record_idx must be an int (which call of the module) '
                f'or "{ALL_RECORDS}" (the list of all calls), got '
                f'{record_idx!r}.')
        connector = record.get('connector')
        if connector is not None and connector not in self.connectors:
            raise DistillConfigError(
                f'{key}.connector="{connector}" is not a key of {_CFG}.'
                f'connectors (has {list(self.connectors)}).' +
                _suggest(connector, self.connectors))


def _check_recorder_sources(manager, model: nn.Module, cfg_key: str,
                            side: str) -> None:
    """Raise if a module recorder's ``source`` names no module of ``model``."""
    module_names = None
    for name, recorder in manager.recorders.items():
        if type(recorder).__name__ not in ('ModuleOutputsRecorder',
                                           'ModuleInputsRecorder'):
            continue
        if module_names is None:
            module_names = [n for n, _ in model.named_modules()]
        if recorder.source not in module_names:
            top = sorted({n.split('.')[0] for n in module_names if n})
            raise DistillConfigError(
                f'{_CFG}.{cfg_key}.{name}.source="{recorder.source}" names '
                f'no module of the {side} ({type(model).__name__}); '
                f'top-level modules: {top}.' +
                _suggest(recorder.source, module_names))


class _KeyedKeyError(KeyError):
    """A ``KeyError`` whose message is shown as is (not its repr)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ''


def _is_out_of_memory(err: BaseException) -> bool:
    import torch
    oom = getattr(torch, 'OutOfMemoryError', None) or getattr(
        torch.cuda, 'OutOfMemoryError', None)
    return (oom is not None and isinstance(err, oom)) or \
        'out of memory' in str(err)


def _explained(loss_name: str, loss: nn.Module, kwargs: Dict,
               err: BaseException) -> 'DistillConfigError':
    """The preflight's config hint for a loss that failed on its inputs."""
    shapes = {k: tuple(v.shape) for k, v in kwargs.items()
              if hasattr(v, 'shape')}
    return DistillConfigError(
        f'{_CFG}.distill_losses.{loss_name} ({type(loss).__name__}) failed '
        f'on inputs {shapes}: {type(err).__name__} {err}\nIf student and '
        'teacher channels or sizes differ, map the student input through a '
        f'connector: {_CFG}.loss_forward_mappings.{loss_name}.<arg>.'
        f'connector = <name in {_CFG}.connectors> (or set the loss\'s '
        'student_channels).')


def _build_named(cfg: Dict, key: str) -> nn.Module:
    """``MODELS.build(cfg)`` (mmrazor's registry, as mmrazor builds losses
    and connectors) with ``key`` named in any error."""
    from mmrazor.registry import MODELS as RAZOR_MODELS
    try:
        return RAZOR_MODELS.build(cfg)
    except KeyError as err:
        unknown = parse_unknown_type(err)
        if unknown is not None:
            keys = find_type_keys(cfg, unknown[0], key)
            raise DistillConfigError(
                unknown_type_message(unknown[0], unknown[1],
                                     keys or [f'{key}.type'])) from None
        raise _with_key(err, key) from err
    except (FileNotFoundError, ValueError, TypeError, RuntimeError) as err:
        if str(err).startswith(key):
            raise
        raise _with_key(err, key) from err


def _with_key(err: BaseException, key: str) -> BaseException:
    """An exception of ``err``'s type whose message starts with ``key``."""
    message = f'{key}: {err}'
    if isinstance(err, KeyError):
        cls = type(err) if type(err).__str__ is not KeyError.__str__ \
            else _KeyedKeyError
        return cls(message)
    try:
        return type(err)(message)
    except Exception:  # noqa: BLE001 - exotic constructor signatures
        return DistillConfigError(message)


def _check_recorder_types(recorders: Optional[Dict], side: str) -> None:
    """Raise a readable error for a recorder ``type`` that mmrazor does not
    know (it appends ``Recorder`` and raises a registry KeyError)."""
    if not recorders:
        return
    from mmrazor.registry import TASK_UTILS
    for name, cfg in recorders.items():
        if not isinstance(cfg, dict) or not isinstance(cfg.get('type'), str):
            continue
        kind = cfg['type']
        full = kind if kind.endswith('Recorder') else kind + 'Recorder'
        try:
            found = TASK_UTILS.get(full)
        except KeyError:
            found = None
        if found is None:
            close = [s.rsplit('.', 1)[-1] for s in suggest_types(
                full, 'task util')]
            close = [c[:-len('Recorder')] if c.endswith('Recorder') else c
                     for c in close]
            hint = (' Did you mean ' + ' or '.join(f'"{c}"' for c in close)
                    + '?') if close else ''
            raise DistillConfigError(
                f'{_CFG}.{side}.{name}.type="{kind}" is not a mmrazor '
                'recorder (types: ModuleOutputs, ModuleInputs, MethodOutputs,'
                ' MethodInputs, FunctionOutputs, FunctionInputs, Parameter).'
                + hint)
