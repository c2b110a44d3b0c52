# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Detection heads with CID + Light-ML's task-wise mutual lifting.

Configs that name these heads import this package through
``custom_imports = dict(imports=['mmkd_dense', 'mmkd_dense.models.heads'])``
(see ``configs/detectors/gfl/gfl-lightml_r18_fpn_15e_visdrone.py``).
"""
from .light_ml_bbox_head import LightMLConvFCBBoxHead
from .light_ml_fcos_head import LightMLFCOSHead
from .light_ml_gfl_head import LightMLGFLHead
from .light_ml_retina_head import LightMLRetinaHead

__all__ = [
    'LightMLGFLHead', 'LightMLRetinaHead', 'LightMLFCOSHead',
    'LightMLConvFCBBoxHead'
]
