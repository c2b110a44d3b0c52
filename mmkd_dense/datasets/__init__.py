# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Datasets: DIOR (XML), DOTA horizontal-box patches, VisDrone, plus the
label readers and bad-input policy shared with the converters
(:mod:`mmkd_dense.datasets.converters`, used by
``tools/dataset_converters/``)."""
from .bad_input_error import BadInputError
from .bad_input_handler import ON_BAD_INPUT_MODES, BadInputHandler
from .class_names import (CITYSCAPES_INSTANCE_CLASSES, DIOR_CLASSES,
                          DOTA_V10_CLASSES, DOTA_V15_CLASSES,
                          VISDRONE_CLASSES, VISDRONE_IGNORE_CATEGORIES)
from .dior import DIORDataset
from .dota_labels import read_dota_labels
from .dota_patch import DOTAPatchDataset
from .strict_cityscapes import StrictCityscapesDataset
from .strict_coco import StrictCocoDataset, StrictCocoMixin
from .strict_voc import StrictVOCDataset
from .visdrone import VisDroneDataset
from .visdrone_labels import read_visdrone_annotations
from .voc_xml import read_voc_xml

__all__ = [
    'DIORDataset', 'DOTAPatchDataset', 'VisDroneDataset',
    'StrictCocoDataset', 'StrictCocoMixin', 'StrictCityscapesDataset',
    'StrictVOCDataset', 'BadInputError', 'BadInputHandler',
    'ON_BAD_INPUT_MODES', 'read_dota_labels', 'read_visdrone_annotations',
    'read_voc_xml', 'DIOR_CLASSES', 'DOTA_V10_CLASSES', 'DOTA_V15_CLASSES',
    'VISDRONE_CLASSES', 'VISDRONE_IGNORE_CATEGORIES',
    'CITYSCAPES_INSTANCE_CLASSES'
]
