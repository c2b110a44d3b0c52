# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Hooks registered in :data:`mmkd_dense.registry.HOOKS` (scope
``mmkd_dense``; configs name them ``mmkd_dense.<Name>``)."""
from .non_finite_guard_hook import NonFiniteGuardHook, NonFiniteLossError
from .safe_checkpoint_hook import (NonFiniteCheckpointError,
                                   SafeCheckpointHook)

__all__ = [
    'NonFiniteGuardHook', 'NonFiniteLossError', 'SafeCheckpointHook',
    'NonFiniteCheckpointError'
]
