# Copyright (c) mmkd_dense contributors. All rights reserved.
from .feature_adapter import FeatureAdapter
from .light_ml import LightML

__all__ = ['FeatureAdapter', 'LightML']
