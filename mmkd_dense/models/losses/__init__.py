# Copyright (c) mmkd_dense contributors. All rights reserved.
from .cid_feature_loss import CIDWeightedFeatureLoss
from .cid_loss import CIDLoss
from .cid_roi_loss import CIDRoILoss
from .crosskd_loss import CrossKDLoss
from .disw_feature_loss import DISWFeatureLoss
from .ds2d2_dense_implicit_loss import DS2D2DenseImplicitLoss
from .ds2d2_explicit_loss import DS2D2ExplicitLoss
from .ds2d2_roi_implicit_loss import DS2D2RoIImplicitLoss
from .fgd_loss import FGDLoss
from .kd_kl_div_loss import KDKLDivLoss
from .kd_quality_focal_loss import KDQualityFocalLoss
from .ld_loss import LDLoss
from .lsfi_loss import LSFILoss
from .mdc_loss import MDCLoss

__all__ = [
    'CIDLoss', 'CIDRoILoss', 'CIDWeightedFeatureLoss', 'FGDLoss', 'LSFILoss',
    'MDCLoss', 'DISWFeatureLoss', 'DS2D2ExplicitLoss',
    'DS2D2DenseImplicitLoss', 'DS2D2RoIImplicitLoss', 'KDQualityFocalLoss',
    'KDKLDivLoss', 'LDLoss', 'CrossKDLoss'
]
