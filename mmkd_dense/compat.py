# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Import-time compatibility shims for the OpenMMLab KD stack on new PyTorch.

Nothing here edits an installed file. Every shim is idempotent, names the
upstream issue it works around and has a test in ``tests/test_compat.py``
that shows the failure without the shim.

1. ``patch_mmrazor_quantization_guard``: mmrazor 1.0.0 cannot be imported on
   torch >= 2.0 (``ImportError: `torch>=1.13` is not installed properly``).
   Its ``structures/quantization/backend_config/{mapping,
   common_operator_config_utils}.py`` import ``torch.ao.quantization``
   internals that were removed after 1.13, fall back to placeholders, and
   then a ``torch >= 1.13`` branch touches the placeholders.
   Upstream: https://github.com/open-mmlab/mmrazor/issues/615, fixed on
   mmrazor main (454f3978, unreleased) by narrowing the guard to
   ``1.13.0 <= torch <= 1.13.1``. We apply the same narrowing while those two
   modules are loaded, through a ``sys.meta_path`` loader that rewrites the
   guard in the module source in memory.
2. ``allow_mmengine_checkpoint_globals``: torch >= 2.6 defaults
   ``torch.load(weights_only=True)``; mmengine 0.10.7 calls ``torch.load``
   without the flag, so ``--resume``, ``load_from``, ``teacher_ckpt`` and
   ``tools/test.py`` fail on mmengine-saved checkpoints
   (``UnpicklingError: Unsupported global: mmengine.logging.history_buffer.
   HistoryBuffer``). Upstream: https://github.com/open-mmlab/mmengine/issues/1655
   (fixed on main 151a87ab, unreleased). Instead of disabling the protection
   (``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1``) we allow-list exactly the types
   that mmengine's ``CheckpointHook``/``Runner.save_checkpoint`` write.
"""
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import warnings
from typing import List, Optional

__all__ = [
    'apply_all', 'patch_mmrazor_quantization_guard',
    'allow_mmengine_checkpoint_globals', 'MMRAZOR_GUARDED_MODULES'
]

#: mmrazor modules whose ``torch >= 1.13`` guard breaks on torch 2.x.
MMRAZOR_GUARDED_MODULES = (
    'mmrazor.structures.quantization.backend_config.mapping',
    'mmrazor.structures.quantization.backend_config.'
    'common_operator_config_utils',
)
_BROKEN_GUARD = "digit_version(torch.__version__) >= digit_version('1.13.0')"
_FIXED_GUARD = ("digit_version('1.13.0') <= digit_version(torch.__version__)"
                " <= digit_version('1.13.1')")


class _GuardRewritingLoader(importlib.machinery.SourceFileLoader):
    """Source loader that narrows mmrazor's torch-version guard in memory."""

    def get_data(self, path):  # noqa: D401 - loader protocol
        data = super().get_data(path)
        if path.endswith('.py'):
            text = data.decode('utf-8')
            if _BROKEN_GUARD in text:
                data = text.replace(_BROKEN_GUARD, _FIXED_GUARD).encode()
        return data

    def path_stats(self, path):
        # Disable bytecode caching for the rewritten modules so that the
        # unpatched ``.pyc`` of the installed package is neither used nor
        # overwritten.
        raise OSError('no bytecode cache for rewritten modules')


class _MMRazorGuardFinder(importlib.abc.MetaPathFinder):
    """``sys.meta_path`` finder that routes the guarded modules to
    :class:`_GuardRewritingLoader`."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in MMRAZOR_GUARDED_MODULES:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.origin is None:
            return None
        loader = _GuardRewritingLoader(fullname, spec.origin)
        return importlib.util.spec_from_file_location(
            fullname, spec.origin, loader=loader)


def _torch_needs_guard_patch() -> bool:
    import torch
    from mmengine.utils import digit_version
    return digit_version(torch.__version__) > digit_version('1.13.1')


def patch_mmrazor_quantization_guard() -> bool:
    """Install the mmrazor guard rewrite (mmrazor issue #615).

    Returns:
        bool: True if the finder is active after the call.
    """
    if any(isinstance(f, _MMRazorGuardFinder) for f in sys.meta_path):
        return True
    if not _torch_needs_guard_patch():
        return False
    already = [m for m in MMRAZOR_GUARDED_MODULES if m in sys.modules]
    if already:
        warnings.warn(
            f'mmkd_dense.compat: {already} were imported before mmkd_dense; '
            'import mmkd_dense first so that mmrazor imports on this torch.')
    sys.meta_path.insert(0, _MMRazorGuardFinder())
    return True


def _mmengine_checkpoint_types() -> List[type]:
    """Types that mmengine 0.10.x writes into a checkpoint besides tensors."""
    import collections

    import numpy as np
    from mmengine.logging.history_buffer import HistoryBuffer

    types: List[type] = [HistoryBuffer, collections.OrderedDict,
                         collections.defaultdict, np.ndarray, np.dtype]
    # numpy scalars (e.g. ``np.float64`` losses in the message hub) and the
    # dtype classes pickled by numpy >= 1.25 (``numpy.dtypes.Float64DType``).
    types += [np.float64, np.float32, np.float16, np.int64, np.int32,
              np.bool_]
    dtypes_mod = getattr(np, 'dtypes', None)
    if dtypes_mod is not None:
        for name in dir(dtypes_mod):
            obj = getattr(dtypes_mod, name)
            if isinstance(obj, type) and name.endswith('DType'):
                types.append(obj)
    return types


def _numpy_reconstruct_functions() -> list:
    """numpy's array/scalar reconstructors (module path moved in numpy 2)."""
    funcs = []
    for mod_name in ('numpy._core.multiarray', 'numpy.core.multiarray'):
        try:
            mod = importlib.import_module(mod_name)
        except ImportError:
            continue
        for attr in ('_reconstruct', 'scalar'):
            fn = getattr(mod, attr, None)
            if fn is not None:
                funcs.append((fn, f'{mod_name}.{attr}'))
    return funcs


def _history_buffer_getattr(obj, name, *default):
    """Stand-in for ``builtins.getattr`` while unpickling with weights_only.

    mmengine's ``HistoryBuffer._statistics_methods`` (saved in every
    checkpoint's message hub) pickles its methods as
    ``getattr(HistoryBuffer, 'min')``. Allowing the real ``getattr`` would let
    a checkpoint fetch any attribute of any allowed object, so only the
    statistics methods of ``HistoryBuffer`` resolve.
    """
    from mmengine.logging.history_buffer import HistoryBuffer
    if obj is HistoryBuffer and isinstance(name, str) and \
            name in ('min', 'max', 'current', 'mean'):
        return getattr(HistoryBuffer, name)
    import pickle
    raise pickle.UnpicklingError(
        f'mmkd_dense.compat: getattr({obj!r}, {name!r}) is not allowed in '
        'a weights_only checkpoint load.')


def allow_mmengine_checkpoint_globals() -> Optional[list]:
    """Allow-list mmengine's checkpoint types for ``torch.load`` (mmengine
    issue #1655).

    Returns:
        list | None: the allowed globals, or None when torch has no
        ``add_safe_globals`` (torch < 2.4, where weights_only defaults False).
    """
    import torch
    add = getattr(torch.serialization, 'add_safe_globals', None)
    if add is None:
        return None
    allowed: list = list(_mmengine_checkpoint_types())
    allowed += _numpy_reconstruct_functions()
    allowed += [(_history_buffer_getattr, 'builtins.getattr'),
                (_history_buffer_getattr, '__builtin__.getattr')]
    add(allowed)
    return allowed


def apply_all() -> None:
    """Apply every shim; called once by ``import mmkd_dense``."""
    patch_mmrazor_quantization_guard()
    allow_mmengine_checkpoint_globals()
