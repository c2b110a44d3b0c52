# Copyright (c) mmkd_dense contributors. All rights reserved.
from .hf_amplifier_detector import (HFAmplifierDetector,
                                    amplifier_detector_cfg,
                                    build_head_from_detector_cfg,
                                    high_frequency_hook, load_amplifier_head)

__all__ = [
    'HFAmplifierDetector', 'load_amplifier_head', 'amplifier_detector_cfg',
    'build_head_from_detector_cfg', 'high_frequency_hook'
]
