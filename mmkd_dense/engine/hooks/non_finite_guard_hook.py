# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Stop training as soon as the loss (or gradient norm) is NaN or Inf."""
import math
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.hooks import Hook

from ...registry import HOOKS

__all__ = ['NonFiniteGuardHook', 'NonFiniteLossError']

DATA_BATCH = Optional[Union[dict, tuple, list]]


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN/Inf loss or gradient norm.

    Raised by :class:`NonFiniteGuardHook` from ``after_train_iter``: the
    exception leaves the training loop before the checkpoint hook of that
    iteration (and of the epoch) runs, so no checkpoint of the diverged
    model is written and no earlier checkpoint is rotated away; the process
    exits non-zero.
    """


def _is_finite(value) -> bool:
    """Whether a logged value (tensor of any shape, or number) is finite."""
    if isinstance(value, torch.Tensor):
        return bool(torch.isfinite(value.detach()).all())
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return True  # not a number (e.g. a string): nothing to check


def _fmt(value) -> str:
    if isinstance(value, torch.Tensor):
        value = value.detach()
        if value.numel() == 1:
            return f'{float(value):.4g}'
        bad = int((~torch.isfinite(value)).sum())
        return f'tensor with {bad}/{value.numel()} non-finite values'
    try:
        return f'{float(value):.4g}'
    except (TypeError, ValueError):
        return repr(value)


@HOOKS.register_module()
class NonFiniteGuardHook(Hook):
    """Stop training when the total loss or the gradient norm is not finite.

    After every training iteration the hook reads the parsed log variables
    the model's ``train_step`` returned (``loss`` and each term, e.g.
    ``student.loss_cls``, ``distill.loss_fgd``) and, when gradient clipping
    logs one, ``train/grad_norm`` from the message hub. When the total loss
    (every key containing ``'loss'`` if there is no ``loss`` key) or the
    gradient norm is NaN/Inf for ``patience`` consecutive iterations, it
    logs an error into the run log naming every non-finite term, the
    iteration, the learning rate and the last checkpoint, and raises
    :class:`NonFiniteLossError`.

    Its priority (``LOW``) places it after ``LoggerHook`` (the diverged
    iteration is still logged) and before ``CheckpointHook`` (``VERY_LOW``),
    so the raise happens before any checkpoint of the diverged model could
    be saved; earlier checkpoints are left untouched. Checking costs nothing
    extra: mmengine's ``RuntimeInfoHook`` already reads every logged value
    to the host each iteration.

    Args:
        check_grad_norm (bool): also stop on a non-finite ``grad_norm``
            (logged only when ``optim_wrapper.clip_grad`` is set). Ignored
            under ``AmpOptimWrapper``, whose loss scaler skips steps with
            Inf gradients by design. Defaults to True.
        patience (int): consecutive non-finite iterations tolerated before
            stopping; 1 stops at the first one. Parameters are usually
            already non-finite after one such step, so raise it only for
            mixed precision, where a step can be skipped. Defaults to 1.
    """

    priority = 'LOW'

    def __init__(self, check_grad_norm: bool = True,
                 patience: int = 1) -> None:
        if not isinstance(patience, int) or patience < 1:
            raise ValueError(
                f'NonFiniteGuardHook: patience must be an int >= 1, got '
                f'{patience!r}')
        self.check_grad_norm = check_grad_norm
        self.patience = patience
        self._bad_iters = 0

    # ------------------------------------------------------------------
    @staticmethod
    def _loss_terms(outputs: Dict) -> Tuple[List[str], List[str]]:
        """Names of the total-loss keys and of every non-finite entry."""
        if 'loss' in outputs:
            total_keys = ['loss']
        else:
            total_keys = [k for k in outputs if 'loss' in k]
        bad = [k for k, v in outputs.items() if not _is_finite(v)]
        return total_keys, bad

    def _grad_norm(self, runner) -> Optional[float]:
        if not self.check_grad_norm:
            return None
        try:
            from mmengine.optim import AmpOptimWrapper
            if isinstance(runner.optim_wrapper, AmpOptimWrapper):
                return None
        except ImportError:  # pragma: no cover - mmengine always has it
            pass
        buffer = runner.message_hub.log_scalars.get('train/grad_norm')
        if buffer is None:
            return None
        return float(buffer.current())

    @staticmethod
    def _lr_text(runner) -> str:
        try:
            lrs = runner.optim_wrapper.get_lr()
        except Exception:  # noqa: BLE001 - only decorates the message
            return ''
        vals = sorted({float(v) for vs in lrs.values() for v in vs})
        if not vals:
            return ''
        shown = ', '.join(f'{v:.3g}' for v in vals[:3])
        return f' (current lr: {shown})'

    @staticmethod
    def _last_ckpt_text(runner) -> str:
        path = runner.message_hub.get_info('last_ckpt')
        if path:
            return (f'The last checkpoint, {path}, was saved before the '
                    'divergence and is kept.')
        return 'No checkpoint had been saved in this run yet.'

    # ------------------------------------------------------------------
    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: DATA_BATCH = None,
                         outputs: Optional[dict] = None) -> None:
        """Raise :class:`NonFiniteLossError` on a non-finite loss / grad.

        Args:
            runner (Runner): the runner of the training process.
            batch_idx (int): index of the batch in the epoch.
            data_batch (dict | tuple | list, optional): the batch.
            outputs (dict, optional): parsed log variables of
                ``train_step`` (name -> 0-d tensor), ``loss`` first.
        """
        outputs = dict(outputs or {})
        total_keys, bad_terms = self._loss_terms(outputs)
        loss_bad = any(k in bad_terms for k in total_keys)
        grad_norm = self._grad_norm(runner)
        grad_bad = grad_norm is not None and not math.isfinite(grad_norm)
        if not (loss_bad or grad_bad):
            self._bad_iters = 0
            return
        self._bad_iters += 1
        if self._bad_iters < self.patience:
            runner.logger.warning(
                f'NonFiniteGuardHook: non-finite loss/grad_norm at iteration '
                f'{runner.iter + 1} ({self._bad_iters}/{self.patience} '
                'tolerated).')
            return
        msg = self._message(runner, outputs, bad_terms, grad_norm, grad_bad)
        runner.logger.error(msg)
        raise NonFiniteLossError(msg)

    def _message(self, runner, outputs: Dict, bad_terms: Sequence[str],
                 grad_norm: Optional[float], grad_bad: bool) -> str:
        terms = [k for k in bad_terms if k != 'loss']
        if terms:
            listed = 'non-finite loss terms: ' + ', '.join(
                f'{k}={_fmt(outputs[k])}' for k in terms)
        elif bad_terms:
            listed = ('every loss term is finite, only their sum '
                      'overflowed')
        else:
            listed = 'every loss term is finite'
        from mmengine.runner import EpochBasedTrainLoop
        where = f'iteration {runner.iter + 1}'
        if isinstance(runner.train_loop, EpochBasedTrainLoop):
            where += f' (epoch {runner.epoch + 1})'
        parts = [f'Training diverged at {where}: ']
        if 'loss' in outputs:
            parts.append(f"loss={_fmt(outputs['loss'])}; ")
        parts.append(listed)
        if grad_norm is not None:
            parts.append(f'; grad_norm={grad_norm:.4g}' +
                         (' (non-finite)' if grad_bad else ''))
        parts.append(
            '. Training stopped by NonFiniteGuardHook before any checkpoint '
            'of this model was written. ' + self._last_ckpt_text(runner) +
            ' Usual causes: a learning rate that is too high' +
            self._lr_text(runner) + ', a loss weight that is too large, ' +
            ('' if getattr(runner.optim_wrapper, 'clip_grad_kwargs', None)
             else 'no gradient clipping (optim_wrapper.clip_grad=dict('
             'max_norm=...)), ') +
            'or broken annotations. Fix the config and start again (or '
            '--resume from the last checkpoint).')
        return ''.join(parts)
