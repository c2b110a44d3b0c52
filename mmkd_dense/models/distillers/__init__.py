# Copyright (c) mmkd_dense contributors. All rights reserved.
from .gt_aware_distiller import (BATCH_CONTEXT_ARG, DistillConfigError,
                                 GTAwareDistiller)

__all__ = ['GTAwareDistiller', 'BATCH_CONTEXT_ARG', 'DistillConfigError']
