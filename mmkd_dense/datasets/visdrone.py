# Copyright (c) mmkd_dense contributors. All rights reserved.
"""VisDrone2019-DET in the COCO format written by ``visdrone2coco.py``."""
from typing import List, Union

from ..registry import DATASETS
from .class_names import VISDRONE_CLASSES, make_palette
from .strict_coco import StrictCocoDataset

__all__ = ['VisDroneDataset']


@DATASETS.register_module()
class VisDroneDataset(StrictCocoDataset):
    """VisDrone2019-DET (10 classes) with its ignore regions.

    ``tools/dataset_converters/visdrone2coco.py`` maps categories 1..10 to
    labels 0..9 and writes every category-0 ("ignored region") and
    category-11 ("others") box, and every box with GT ``score == 0``, as
    ``iscrowd=1``: class-agnostic regions get one copy per class (sharing an
    ``ignore_region_id``) so that pycocotools ignores detections of any
    class inside them, as the VisDrone protocol does. They load as
    ``ignore_flag=1`` instances, i.e. ``ignored_instances`` of the data
    sample; nothing is trained on them and nothing is dropped.

    Args:
        merge_ignore_regions (bool): load each class-agnostic region once
            (label of its first copy, 0) instead of once per class.
            Defaults to False (one ignored instance per class, so per-class
            metrics such as VOCMetric also ignore every class there).
    """

    METAINFO = dict(classes=VISDRONE_CLASSES,
                    palette=make_palette(VISDRONE_CLASSES))

    def __init__(self, *args, merge_ignore_regions: bool = False,
                 **kwargs) -> None:
        self.merge_ignore_regions = merge_ignore_regions
        super().__init__(*args, **kwargs)

    def parse_data_info(self, raw_data_info: dict) -> Union[dict, List[dict]]:
        """Optionally collapse the per-class copies of an ignore region."""
        if self.merge_ignore_regions:
            seen = set()
            anns = []
            for ann in raw_data_info['raw_ann_info']:
                region = ann.get('ignore_region_id')
                if region is not None:
                    if region in seen:
                        continue
                    seen.add(region)
                anns.append(ann)
            raw_data_info = dict(raw_data_info, raw_ann_info=anns)
        return super().parse_data_info(raw_data_info)
