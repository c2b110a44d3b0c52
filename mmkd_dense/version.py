# Copyright (c) mmkd_dense contributors. All rights reserved.
__version__ = '0.1.0'

__all__ = ['__version__']
