# Copyright (c) mmkd_dense contributors. All rights reserved.
from .fgd_loss import FGDLoss

__all__ = ['FGDLoss']
