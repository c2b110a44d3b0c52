# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Cityscapes instance detection (COCO json) without silent drops."""
from mmdet.datasets import CityscapesDataset

from ..registry import DATASETS
from .strict_coco import StrictCocoMixin

__all__ = ['StrictCityscapesDataset']


@DATASETS.register_module()
class StrictCityscapesDataset(StrictCocoMixin, CityscapesDataset):
    """:class:`mmdet.datasets.CityscapesDataset` (8 instance classes, its
    ``filter_data``) with the checks of
    :class:`~mmkd_dense.datasets.strict_coco.StrictCocoMixin`: unknown
    categories, malformed / non-positive / outside boxes, missing images, an
    empty or truncated json are errors naming the file and record, or are
    skipped with counts with ``on_bad_input='skip'``. Reads the json written
    by ``tools/dataset_converters/cityscapes.py``."""
