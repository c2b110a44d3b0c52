# Copyright (c) mmkd_dense contributors. All rights reserved.
"""COCO-format dataset that reports what mmdet's CocoDataset drops."""
import logging
from collections import Counter
from typing import List, Union

from mmdet.datasets import CocoDataset
from mmengine.logging import print_log

from ..registry import DATASETS

__all__ = ['StrictCocoDataset']


@DATASETS.register_module()
class StrictCocoDataset(CocoDataset):
    """:class:`mmdet.datasets.CocoDataset` without silent drops.

    mmdet skips annotations whose ``category_id`` is not among
    ``metainfo['classes']`` and boxes with ``w < 1``, ``h < 1``, zero area
    or no overlap with the image, without a word. Here an unknown category
    is an error naming the json and the ids (a class list that does not
    match the json is a configuration mistake, e.g. DOTA v1.5 data read as
    v1.0), and degenerate boxes are counted and logged as a warning.
    """

    def load_data_list(self) -> List[dict]:
        """Load the json, then raise on unknown categories / log drops."""
        self._unknown_cats: Counter = Counter()
        self._degenerate = 0
        data_list = super().load_data_list()
        if self._unknown_cats:
            ids = dict(sorted(self._unknown_cats.items()))
            raise ValueError(
                f'{self.ann_file}: {sum(ids.values())} annotations have '
                f'category ids not among metainfo classes '
                f"{list(self.metainfo['classes'])} (id: count = {ids}). "
                'Use the class list the json was written with (metainfo='
                'dict(classes=...) or the dataset\'s version argument).')
        if self._degenerate:
            print_log(
                f'{type(self).__name__}: {self._degenerate} annotations in '
                f'{self.ann_file} have w < 1, h < 1, zero area or lie '
                'outside the image; they are not used.',
                logger='current', level=logging.WARNING)
        return data_list

    def parse_data_info(self, raw_data_info: dict) -> Union[dict, List[dict]]:
        """Count what the parent will drop, then parse."""
        img = raw_data_info['raw_img_info']
        for ann in raw_data_info['raw_ann_info']:
            if ann.get('ignore', False):
                continue
            if ann['category_id'] not in self.cat_ids:
                self._unknown_cats[ann['category_id']] += 1
                continue
            x1, y1, w, h = ann['bbox']
            inter_w = max(0, min(x1 + w, img['width']) - max(x1, 0))
            inter_h = max(0, min(y1 + h, img['height']) - max(y1, 0))
            if inter_w * inter_h == 0 or ann['area'] <= 0 or w < 1 or h < 1:
                self._degenerate += 1
        return super().parse_data_info(raw_data_info)
