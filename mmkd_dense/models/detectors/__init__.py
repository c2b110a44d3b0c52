# Copyright (c) mmkd_dense contributors. All rights reserved.
from .hf_amplifier_detector import HFAmplifierDetector, high_frequency_hook

__all__ = ['HFAmplifierDetector', 'high_frequency_hook']
