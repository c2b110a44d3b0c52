# Copyright (c) mmkd_dense contributors. All rights reserved.
"""DOTA v1.0 / v1.5 horizontal-box patches written by ``dota_split.py``."""
from typing import List, Union

from ..registry import DATASETS
from .class_names import DOTA_V10_CLASSES, DOTA_V15_CLASSES, make_palette
from .strict_coco import StrictCocoDataset

__all__ = ['DOTAPatchDataset']


@DATASETS.register_module()
class DOTAPatchDataset(StrictCocoDataset):
    """DOTA patches in COCO format (``tools/dataset_converters/
    dota_split.py``).

    Difficult objects are ``iscrowd=1`` in the json and load as
    ``ignore_flag=1``. Each data info carries ``patch_info`` = dict(
    ``ori_file_name``, ``x_start``, ``y_start``, ``ori_width``,
    ``ori_height``) from the json; the patch file name
    ``<image>__<size>__<x>___<y>.png`` carries the offset too, which is what
    :class:`~mmkd_dense.evaluation.DOTAHBBMetric` reads to merge detections.

    Args:
        version (str): ``'v1.0'`` (15 classes) or ``'v1.5'`` (16, adds
            ``container-crane``); ignored when ``metainfo`` gives classes.
    """

    METAINFO = dict(classes=DOTA_V10_CLASSES,
                    palette=make_palette(DOTA_V10_CLASSES))
    CLASSES_V10 = DOTA_V10_CLASSES
    CLASSES_V15 = DOTA_V15_CLASSES

    def __init__(self, *args, version: str = 'v1.0', **kwargs) -> None:
        if version not in ('v1.0', 'v1.5'):
            raise ValueError(
                f"DOTAPatchDataset version must be 'v1.0' or 'v1.5', got "
                f'{version!r}')
        self.version = version
        if version == 'v1.5' and not (kwargs.get('metainfo') or {}).get(
                'classes'):
            metainfo = dict(kwargs.get('metainfo') or {})
            metainfo.update(classes=DOTA_V15_CLASSES,
                            palette=make_palette(DOTA_V15_CLASSES))
            kwargs['metainfo'] = metainfo
        super().__init__(*args, **kwargs)

    def parse_data_info(self, raw_data_info: dict) -> Union[dict, List[dict]]:
        """Parse one patch and attach its offset in the original image."""
        info = super().parse_data_info(raw_data_info)
        img = raw_data_info['raw_img_info']
        if 'x_start' in img:
            info['patch_info'] = dict(
                ori_file_name=img.get('ori_file_name'),
                x_start=int(img['x_start']), y_start=int(img['y_start']),
                ori_width=img.get('ori_width'),
                ori_height=img.get('ori_height'))
        return info
