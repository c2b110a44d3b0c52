# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Automatic mixed precision for ``tools/train.py --amp``, CUDA and CPU.

- CUDA (and the other accelerators mmengine knows): mmengine's
  ``AmpOptimWrapper``, float16 autocast with a dynamic loss scaler.
- CPU: mmengine's ``AmpOptimWrapper`` refuses to build without an
  accelerator (it asserts CUDA/NPU/MLU/MUSA), and CPU autocast only supports
  bfloat16 in mmengine's ``autocast``. :class:`AutocastOptimWrapper` is an
  ``OptimWrapper`` whose ``optim_context`` adds bfloat16 autocast on the
  model's device. bfloat16 has float32's exponent range, so gradients do not
  overflow or underflow the way float16's do and no loss scaler is needed
  (parameters, gradients and optimizer state stay float32).

The distillation losses are float32 islands inside the autocast region
(:mod:`mmkd_dense.models.utils.precision`), see ``docs/methods.md`` §6.

mmcv's CPU ``RoIAlign`` and ``nms`` have no bfloat16 kernels
(``"ROIAlign_forward" not implemented for 'BFloat16'``, ``expected scalar
type Float but found BFloat16``), and mmdet's RoI extractors cast the RoI
coordinates to the feature dtype (bfloat16 keeps 8 mantissa bits: a
coordinate near 1000 px moves by up to 4 px). :func:`apply_cpu_bfloat16_shims`
makes the extractors pool bfloat16 CPU features in float32 and NMS take
bfloat16 CPU boxes/scores as float32; it is applied by
:func:`configure_amp` for the CPU and when an :class:`AutocastOptimWrapper`
is built.
"""
import functools
from contextlib import contextmanager
from typing import Callable, Iterator, Optional, Union

import torch
from mmengine.logging import print_log
from mmengine.optim import OptimWrapper
from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS
from mmengine.registry import Registry
from torch import nn

__all__ = [
    'OPTIM_WRAPPERS', 'AutocastOptimWrapper', 'configure_amp',
    'apply_cpu_bfloat16_shims'
]

#: Optimizer wrappers of scope ``mmkd_dense`` (a child of mmengine's root
#: registry like the ones of :mod:`mmkd_dense.registry`), so a config names
#: them ``type='mmkd_dense.AutocastOptimWrapper'`` in any default scope.
OPTIM_WRAPPERS = Registry(
    'optim_wrapper', parent=MMENGINE_OPTIM_WRAPPERS, scope='mmkd_dense',
    locations=['mmkd_dense.utils.amp'])

#: ``optim_wrapper.type`` values that ``--amp`` may replace.
_REPLACEABLE = ('OptimWrapper', 'AmpOptimWrapper',
                'mmkd_dense.AutocastOptimWrapper', 'AutocastOptimWrapper')


@OPTIM_WRAPPERS.register_module()
class AutocastOptimWrapper(OptimWrapper):
    """An ``OptimWrapper`` that runs the forward pass under
    ``torch.autocast`` in bfloat16, without loss scaling.

    The autocast device type is the one of the model's parameters (CPU for
    ``tools/train.py --amp`` on a machine without CUDA). Everything else
    (gradient accumulation, clipping, state dict) is ``OptimWrapper``'s.

    Args:
        dtype (str | torch.dtype): autocast dtype; only ``'bfloat16'``
            (float16 needs a loss scaler: use mmengine's
            ``AmpOptimWrapper``). Defaults to ``'bfloat16'``.
        **kwargs: ``OptimWrapper`` arguments (``optimizer``,
            ``accumulative_counts``, ``clip_grad``).
    """

    def __init__(self,
                 dtype: Union[str, torch.dtype] = 'bfloat16',
                 **kwargs) -> None:
        if isinstance(dtype, str):
            dtype = getattr(torch, dtype, None)
        if dtype is not torch.bfloat16:
            raise ValueError(
                'optim_wrapper.dtype of mmkd_dense.AutocastOptimWrapper must '
                f'be "bfloat16", got {dtype}; float16 overflows without a '
                "loss scaler, use type='AmpOptimWrapper' (CUDA) for it.")
        super().__init__(**kwargs)
        self.cast_dtype = dtype
        apply_cpu_bfloat16_shims()

    @contextmanager
    def optim_context(self, model: nn.Module) -> Iterator[None]:
        """``OptimWrapper.optim_context`` plus bfloat16 autocast on the
        device type of ``model``'s parameters."""
        param = next(model.parameters(), None)
        device_type = param.device.type if param is not None else 'cpu'
        with super().optim_context(model), torch.autocast(
                device_type=device_type, dtype=self.cast_dtype):
            yield

    def __repr__(self) -> str:
        return (super().__repr__().rstrip() +
                f'\nautocast dtype: {self.cast_dtype}')


def _float32_roi_pooling(forward: Callable) -> Callable:
    """Wrap an mmdet RoI extractor's ``forward(feats, rois, ...)``: bfloat16
    features on the CPU are pooled in float32 (float32 RoI coordinates,
    autocast off); anything else goes through unchanged."""

    @functools.wraps(forward)
    def wrapper(self, feats, rois, *args, **kwargs):
        if feats and feats[0].device.type == 'cpu' and \
                feats[0].dtype == torch.bfloat16:
            from mmkd_dense.models.utils.precision import autocast_disabled
            with autocast_disabled():
                return forward(self, tuple(f.float() for f in feats),
                               rois.float(), *args, **kwargs)
        return forward(self, feats, rois, *args, **kwargs)

    wrapper._mmkd_float32_roi = True
    return wrapper


def _float32_nms(forward: Callable) -> Callable:
    """Wrap mmcv's ``NMSop.forward(ctx, bboxes, scores, ...)``: bfloat16
    CPU boxes or scores are cast to float32 (the kept indices are the
    output)."""

    @functools.wraps(forward)
    def wrapper(ctx, bboxes, scores, *args, **kwargs):
        if bboxes.device.type == 'cpu' and torch.bfloat16 in (bboxes.dtype,
                                                              scores.dtype):
            bboxes, scores = bboxes.float(), scores.float()
        return forward(ctx, bboxes, scores, *args, **kwargs)

    wrapper._mmkd_float32_nms = True
    return wrapper


def apply_cpu_bfloat16_shims() -> None:
    """Let bfloat16 CPU autocast run two-stage detectors (idempotent).

    - mmdet's ``SingleRoIExtractor`` and ``GenericRoIExtractor`` pool
      bfloat16 CPU features in float32 (mmcv's CPU ``RoIAlign`` has no
      bfloat16 kernel) and return float32 RoI features;
    - mmcv's ``NMSop`` runs bfloat16 CPU boxes/scores in float32 (its CPU
      kernel reads float32 only).

    CUDA tensors and float32/float16 inputs are unaffected.
    """
    from mmcv.ops.nms import NMSop
    from mmdet.models.roi_heads.roi_extractors import (GenericRoIExtractor,
                                                       SingleRoIExtractor)
    for cls in (SingleRoIExtractor, GenericRoIExtractor):
        if not getattr(cls.forward, '_mmkd_float32_roi', False):
            cls.forward = _float32_roi_pooling(cls.forward)
    if not getattr(NMSop.forward, '_mmkd_float32_nms', False):
        NMSop.forward = staticmethod(_float32_nms(NMSop.forward))


def configure_amp(cfg, device: Optional[str] = None) -> str:
    """Switch ``cfg.optim_wrapper`` to mixed precision, in place.

    ``device`` ``'cuda'`` (or another accelerator): mmengine's
    ``AmpOptimWrapper`` with float16 autocast (unless the config sets a
    ``dtype``) and a dynamic loss scaler (unless it sets ``loss_scale``).
    ``'cpu'``: :class:`AutocastOptimWrapper` (bfloat16 autocast, no loss
    scaler). Other keys of ``optim_wrapper`` (optimizer, ``clip_grad``,
    ``accumulative_counts``, ``paramwise_cfg``, ``constructor``) are kept.

    Args:
        cfg (mmengine.Config): the training config.
        device (str, optional): ``'cuda'``, ``'cpu'``, ...; defaults to the
            device the Runner will train on (``mmengine.device.get_device``).

    Returns:
        str: the autocast dtype name, e.g. ``'float16'`` or ``'bfloat16'``.

    Raises:
        ValueError: the config has no ``optim_wrapper`` or one of a type
            ``--amp`` cannot convert (e.g. ``OptimWrapperDict``).
    """
    wrapper = cfg.get('optim_wrapper')
    if not isinstance(wrapper, dict):
        raise ValueError('--amp needs an optim_wrapper dict in the config '
                         f'(found {wrapper!r}); add optim_wrapper=dict('
                         "type='OptimWrapper', optimizer=...).")
    kind = wrapper.get('type', 'OptimWrapper')
    if kind not in _REPLACEABLE:
        raise ValueError(
            f'--amp converts optim_wrapper.type "OptimWrapper" (or an AMP '
            f'wrapper), but the config has "{kind}". Set mixed precision '
            'in the config for this wrapper instead of --amp, or use '
            "optim_wrapper.type='OptimWrapper'.")
    if device is None:
        from mmengine.device import get_device
        device = get_device()
    if device == 'cpu':
        apply_cpu_bfloat16_shims()
        wrapper.pop('loss_scale', None)
        wrapper['type'] = 'mmkd_dense.AutocastOptimWrapper'
        wrapper['dtype'] = 'bfloat16'
    else:
        wrapper['type'] = 'AmpOptimWrapper'
        wrapper.setdefault('loss_scale', 'dynamic')
        if device == 'cuda' and wrapper.get('dtype') is None:
            wrapper['dtype'] = 'float16'
    dtype = str(wrapper.get('dtype') or 'float16')
    print_log(f'--amp: {wrapper["type"]}, {dtype} autocast on {device}'
              + ('' if device == 'cpu' else
                 f', loss_scale={wrapper["loss_scale"]}'),
              logger='current')
    return dtype
