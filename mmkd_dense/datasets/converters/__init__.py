# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Dataset converters (the cores of ``tools/dataset_converters/*``).

Not imported by :mod:`mmkd_dense.datasets`; import the submodule you need.
"""
__all__: list = []
