# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Training-loop hooks that keep a run from producing silent wrong results:
a NaN/Inf guard and a crash-safe checkpoint hook (both named in
``configs/_base_/default_runtime.py``)."""
from .hooks import (NonFiniteCheckpointError, NonFiniteGuardHook,
                    NonFiniteLossError, SafeCheckpointHook)

__all__ = [
    'NonFiniteGuardHook', 'NonFiniteLossError', 'SafeCheckpointHook',
    'NonFiniteCheckpointError'
]
