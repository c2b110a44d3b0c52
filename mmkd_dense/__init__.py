# Copyright (c) mmkd_dense contributors. All rights reserved.
"""mmkd_dense: knowledge distillation for dense object detection.

Importing the package applies the compatibility shims in
:mod:`mmkd_dense.compat` (they must run before ``mmrazor.models`` is
imported) and registers every model, dataset and metric.
"""
from . import compat
from .version import __version__

compat.apply_all()

from . import registry  # noqa: E402
from . import models  # noqa: E402,F401
from . import datasets  # noqa: E402,F401
from . import evaluation  # noqa: E402,F401

__all__ = ['__version__', 'compat', 'registry']
