# Copyright (c) mmkd_dense contributors. All rights reserved.
from .distill_batch_context import DistillBatchContext

__all__ = ['DistillBatchContext']
