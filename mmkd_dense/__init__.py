# Copyright (c) mmkd_dense contributors. All rights reserved.
"""mmkd_dense: knowledge distillation for dense object detection.

Importing the package applies the compatibility shims in
:mod:`mmkd_dense.compat` (they must run before ``mmrazor.models`` is
imported) and creates the ``mmkd_dense`` registries.

The modules that register models, datasets, metrics and hooks are imported
lazily, on first use, so that ``import mmkd_dense`` (and with it
``tools/train.py --help`` or a config error) does not pay for importing
mmdet and mmrazor:

- each registry of :mod:`mmkd_dense.registry` names its modules in
  ``locations``; mmengine imports them on the first lookup, which every
  config triggers with ``type='mmkd_dense.<Class>'`` (also through
  ``custom_imports=['mmkd_dense']``);
- ``mmkd_dense.models`` (``.datasets``, ``.evaluation``, ``.engine``, ...)
  attribute access imports the subpackage (PEP 562);
- :func:`register_all_modules` imports all of them at once.
"""
import importlib

from . import compat
from .version import __version__

compat.apply_all()

from . import registry  # noqa: E402

#: subpackages imported on first attribute access
_LAZY_SUBMODULES = ('models', 'datasets', 'evaluation', 'engine',
                    'structures', 'utils', 'demo', 'testing', 'deployment')
#: subpackages that register classes (imported by register_all_modules)
_REGISTERING = ('models', 'datasets', 'evaluation', 'engine')

__all__ = ['__version__', 'compat', 'registry', 'register_all_modules']


def register_all_modules() -> None:
    """Import every module that registers a class (models, datasets,
    metrics, hooks); a lookup through the registries does this lazily."""
    for name in _REGISTERING:
        importlib.import_module(f'{__name__}.{name}')


def __getattr__(name: str):
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f'{__name__}.{name}')
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


def __dir__():
    return sorted(set(globals()) | set(_LAZY_SUBMODULES))
