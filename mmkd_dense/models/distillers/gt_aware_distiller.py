# Copyright (c) mmkd_dense contributors. All rights reserved.
"""A ConfigurableDistiller that also hands the batch's GT to its losses."""
import difflib
import inspect
from typing import Dict, Optional

from mmrazor.models.distillers import ConfigurableDistiller
from torch import nn

from mmkd_dense.registry import MODELS
from mmkd_dense.structures import DistillBatchContext

__all__ = ['GTAwareDistiller', 'BATCH_CONTEXT_ARG', 'DistillConfigError']

#: Name of the ``forward`` parameter through which a loss receives the batch.
BATCH_CONTEXT_ARG = 'batch_context'

_CFG = 'model.distiller'


class DistillConfigError(ValueError):
    """A distillation config is inconsistent; the message names the key."""


def _suggest(name: str, choices) -> str:
    close = difflib.get_close_matches(name, list(choices), n=3)
    return f' Did you mean {close}?' if close else ''


@MODELS.register_module()
class GTAwareDistiller(ConfigurableDistiller):
    """``ConfigurableDistiller`` whose losses can read GT boxes, labels,
    image metas, the input shape and the student/teacher models.

    A loss opts in by declaring a ``batch_context`` argument in its
    ``forward``; it then receives a
    :class:`~mmkd_dense.structures.DistillBatchContext` in addition to the
    tensors mapped by ``loss_forward_mappings``. Losses without that argument
    (all of mmrazor's) work unchanged.

    Compared with mmrazor's distiller, config mistakes raise
    :class:`DistillConfigError` naming the offending key (unknown recorder,
    unknown connector, unmapped loss argument, a recorder ``source`` that
    names no module) and a loss failure during the step names the loss.

    Args:
        Same as :class:`mmrazor.models.ConfigurableDistiller`.
    """

    def __init__(self, **kwargs) -> None:
        self._batch_context: Optional[DistillBatchContext] = None
        super().__init__(**kwargs)
        self._context_losses = {
            name for name, loss in self.distill_losses.items()
            if BATCH_CONTEXT_ARG in inspect.signature(loss.forward).parameters
        }

    # ------------------------------------------------------------------ #
    # batch context
    # ------------------------------------------------------------------ #
    def set_batch_context(self,
                          context: Optional[DistillBatchContext]) -> None:
        """Set (or clear with None) the context of the current batch."""
        self._batch_context = context

    @property
    def batch_context(self) -> Optional[DistillBatchContext]:
        """The context of the batch being distilled, if any."""
        return self._batch_context

    def compute_distill_losses(self) -> Dict:
        """Compute each configured loss, adding ``batch_context`` where the
        loss asks for it."""
        losses = dict()
        for loss_name, forward_mappings in self.loss_forward_mappings.items():
            kwargs = {
                key: self.get_record(**record)
                for key, record in forward_mappings.items()
            }
            if loss_name in self._context_losses:
                if self._batch_context is None:
                    raise RuntimeError(
                        f'{_CFG}.distill_losses.{loss_name} needs the batch '
                        'GT (it has a `batch_context` argument) but no batch '
                        'context was set. Use model.type='
                        "'mmkd_dense.GTAwareDistill' as the algorithm.")
                kwargs[BATCH_CONTEXT_ARG] = self._batch_context
            try:
                losses[loss_name] = self.distill_losses[loss_name](**kwargs)
            except (RuntimeError, ValueError, AssertionError) as err:
                shapes = {
                    k: tuple(v.shape) for k, v in kwargs.items()
                    if hasattr(v, 'shape')
                }
                raise DistillConfigError(
                    f'{_CFG}.distill_losses.{loss_name} '
                    f'({type(self.distill_losses[loss_name]).__name__}) '
                    f'failed on inputs {shapes}: {type(err).__name__} {err}'
                    '\nIf student and '
                    'teacher channels or sizes differ, map the student input '
                    f'through a connector: {_CFG}.loss_forward_mappings.'
                    f'{loss_name}.<arg>.connector = <name in {_CFG}.'
                    'connectors> (or set the loss\'s student_channels).'
                ) from err
        return losses

    # ------------------------------------------------------------------ #
    # recorder preparation with readable errors
    # ------------------------------------------------------------------ #
    def prepare_from_student(self, model: nn.Module) -> None:
        """Check recorder sources, then hook the student recorders."""
        _check_recorder_sources(self.student_recorders, model,
                                'student_recorders', 'student')
        super().prepare_from_student(model)

    def prepare_from_teacher(self, model: nn.Module) -> None:
        """Check recorder sources, then hook the teacher recorders."""
        _check_recorder_sources(self.teacher_recorders, model,
                                'teacher_recorders', 'teacher')
        super().prepare_from_teacher(model)

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
