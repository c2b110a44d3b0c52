# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Float32 islands for the KD losses under automatic mixed precision.

Under ``torch.autocast`` (``tools/train.py --amp``: float16 on CUDA,
bfloat16 on CPU) the recorded features reach the losses in half precision
and autocast would run their convolutions, einsums and matmuls in half
precision too. The losses' sums over ``C*H*W`` values, softmaxes over
``H*W``, SSIM statistics (``1 / (B1*B2)`` of a flat region is ~1e7, far
above float16's 65504), KL terms and pixel-coordinate box areas overflow or
lose all precision there. :func:`float32_forward` runs a loss in float32
instead: float16/bfloat16 tensor arguments are cast up (a float32 or
float64 tensor is passed through as is: no copy, no cost on the float32
path) and autocast is disabled inside. Gradients flow back through the cast
in the input's dtype, as for any autocast op.
"""
import functools
from contextlib import ExitStack, contextmanager
from typing import Any, Callable, Iterator, TypeVar

import torch

__all__ = [
    'LOW_PRECISION_DTYPES', 'AUTOCAST_DEVICE_TYPES', 'autocast_active',
    'autocast_disabled', 'to_float32', 'has_low_precision',
    'float32_forward'
]

#: Floating dtypes that :func:`to_float32` casts up.
LOW_PRECISION_DTYPES = (torch.float16, torch.bfloat16)
#: Device types whose autocast state :func:`autocast_disabled` turns off.
AUTOCAST_DEVICE_TYPES = ('cpu', 'cuda')

_Fn = TypeVar('_Fn', bound=Callable[..., Any])


def autocast_active() -> bool:
    """Whether autocast is enabled for any of
    :data:`AUTOCAST_DEVICE_TYPES`."""
    return any(
        torch.is_autocast_enabled(device)
        for device in AUTOCAST_DEVICE_TYPES)


@contextmanager
def autocast_disabled() -> Iterator[None]:
    """Disable autocast (every device type where it is on) inside."""
    with ExitStack() as stack:
        for device in AUTOCAST_DEVICE_TYPES:
            if torch.is_autocast_enabled(device):
                stack.enter_context(
                    torch.autocast(device_type=device, enabled=False))
        yield


def has_low_precision(obj: Any) -> bool:
    """Whether ``obj`` is, or a list/tuple/dict holds, a float16/bfloat16
    tensor."""
    if isinstance(obj, torch.Tensor):
        return obj.dtype in LOW_PRECISION_DTYPES
    if isinstance(obj, (list, tuple)):
        return any(has_low_precision(v) for v in obj)
    if isinstance(obj, dict):
        return any(has_low_precision(v) for v in obj.values())
    return False


def to_float32(obj: Any) -> Any:
    """Cast float16/bfloat16 tensors to float32, also inside (nested)
    lists, tuples and dicts (their type is kept). Anything else, float32
    and float64 tensors included, is returned unchanged (not copied)."""
    if isinstance(obj, torch.Tensor):
        return obj.float() if obj.dtype in LOW_PRECISION_DTYPES else obj
    if isinstance(obj, tuple) and hasattr(obj, '_fields'):  # namedtuple
        return type(obj)(*(to_float32(v) for v in obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_float32(v) for v in obj)
    if isinstance(obj, dict):
        return type(obj)((k, to_float32(v)) for k, v in obj.items())
    return obj


def float32_forward(fn: _Fn) -> _Fn:
    """Decorator: run ``fn`` in float32 whatever the autocast state.

    When autocast is on or an argument holds a float16/bfloat16 tensor,
    those tensors are cast to float32 (see :func:`to_float32`) and ``fn``
    runs with autocast disabled, so every op inside (parameters of the loss
    included) computes in float32 and the loss comes out in float32.
    Otherwise ``fn`` is called as is.
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if not (autocast_active() or has_low_precision(args)
                or has_low_precision(kwargs)):
            return fn(*args, **kwargs)
        args, kwargs = to_float32(args), to_float32(kwargs)
        with autocast_disabled():
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
