# Copyright (c) mmkd_dense contributors. All rights reserved.
"""PASCAL VOC (XML) without silent drops or late failures."""
import os.path as osp
from typing import List, Optional, Union
from xml.parsers import expat

from mmdet.datasets import VOCDataset

from ..registry import DATASETS
from .bad_input_handler import BadInputHandler
from .strict_coco import find_missing_files
from .voc_xml import read_voc_xml

__all__ = ['StrictVOCDataset']


@DATASETS.register_module()
class StrictVOCDataset(VOCDataset):
    """:class:`mmdet.datasets.VOCDataset` that reports every bad record.

    mmdet's ``XMLDataset`` skips objects whose class name is not among
    ``metainfo['classes']`` without a word, keeps boxes with ``xmax < xmin``
    (training on them), names no file when an XML is malformed, and finds a
    missing image only when its batch is loaded. Here, while the dataset is
    built, each of these is a :class:`~mmkd_dense.datasets.BadInputError`
    naming the file and line (the XML, or the image), or, with
    ``on_bad_input='skip'``, the object (or the image) is skipped and counted
    in a logged warning (``bad_input_counts`` keeps the counts). Everything
    else is mmdet's behaviour: 1 is subtracted from the integer pixel
    coordinates, ``<difficult>1`` and boxes below
    ``filter_cfg.bbox_min_size`` become ignored instances, ``metainfo``'s
    ``dataset_type`` follows the ``VOC2007`` / ``VOC2012`` sub-folder.
    Remote backends (``backend_args`` set) are read by the parent unchecked.

    Args:
        on_bad_input (str): ``'raise'`` (default) or ``'skip'``.
        check_images (bool): check up front that every image file exists.
            Defaults to True.
    """

    def __init__(self,
                 *args,
                 on_bad_input: str = 'raise',
                 check_images: bool = True,
                 **kwargs) -> None:
        BadInputHandler(on_bad_input)  # validate the mode early
        self.on_bad_input = on_bad_input
        self.check_images = check_images
        self.bad_input_counts: dict = {}
        super().__init__(*args, **kwargs)

    @property
    def _local(self) -> bool:
        return self.backend_args is None

    def load_data_list(self) -> List[dict]:
        """Read the id list and every XML, checking records and images.

        Returns:
            list[dict]: mmdet data infos (bad objects/images removed in
            ``'skip'`` mode).
        """
        name = type(self).__name__
        self._handler = BadInputHandler(self.on_bad_input, source=name)
        if self._local and not osp.isfile(self.ann_file):
            raise FileNotFoundError(
                f'{name}: id list {self.ann_file} does not exist; check '
                'data_root, ann_file (e.g. VOC2007/ImageSets/Main/'
                'trainval.txt) and data_prefix.sub_data_root.')
        data_list = [d for d in super().load_data_list() if d is not None]
        if not data_list and not self._handler.total:
            raise ValueError(
                f'{self.ann_file} lists no image id: nothing to train or '
                'test on. Check that ann_file is the right id list.')
        if self.check_images and self._local and data_list:
            missing = set(find_missing_files(
                [d['img_path'] for d in data_list]))
            for info in data_list:
                if info['img_path'] in missing:
                    self._handler.report(
                        'missing image file', info['img_path'], None,
                        f"image id {info['img_id']!r} of {self.ann_file}")
            data_list = [d for d in data_list if d['img_path'] not in missing]
        self._handler.log()
        self.bad_input_counts = dict(self._handler.counts)
        if not data_list:
            raise ValueError(
                f'{name}: every image of {self.ann_file} was skipped as bad '
                f'input ({self._handler.summary()}); nothing is left.')
        return data_list

    def parse_data_info(self, img_info: dict) -> Union[dict, None]:
        """Parse one image's XML (``None`` when skipped as bad input).

        Args:
            img_info (dict): ``img_id``, ``file_name`` and ``xml_path``.

        Returns:
            dict | None: ``img_path``, ``img_id``, ``xml_path``, ``height``,
            ``width`` and ``instances`` (``bbox`` xyxy, ``bbox_label``,
            ``ignore_flag``).
        """
        if not self._local:
            return super().parse_data_info(img_info)
        handler = self._handler
        img_path = osp.join(self.sub_data_root, img_info['file_name'])
        xml_path = img_info['xml_path']
        if not osp.isfile(xml_path):
            handler.report('missing annotation file', xml_path, None,
                           f"image id {img_info['img_id']!r} is listed in "
                           f'{self.ann_file} but has no XML')
            return None
        try:
            raw = read_voc_xml(xml_path)
        except expat.ExpatError as e:
            handler.report('malformed XML', xml_path, e.lineno, str(e))
            return None
        size = self._image_size(raw, img_path, xml_path)
        if size is None:
            return None
        instances = []
        for obj in raw['objects']:
            inst = self._parse_object(obj, xml_path)
            if inst is not None:
                instances.append(inst)
        return dict(img_path=img_path, img_id=img_info['img_id'],
                    xml_path=xml_path, width=size[0], height=size[1],
                    instances=instances)

    def _image_size(self, raw: dict, img_path: str,
                    xml_path: str) -> Optional[tuple]:
        try:
            width, height = int(float(raw['width'])), int(float(
                raw['height']))
            if width > 0 and height > 0:
                return width, height
        except (TypeError, ValueError):
            pass
        if osp.isfile(img_path):  # mmdet: no <size> -> read the image
            from PIL import Image
            with Image.open(img_path) as im:
                return im.size
        self._handler.report('missing image size', xml_path, None,
                             'no valid <size> and the image cannot be read')
        return None

    def _parse_object(self, obj: dict, xml_path: str) -> Optional[dict]:
        handler = self._handler
        name = (obj['name'] or '').strip()
        classes = self._metainfo['classes']
        if name not in classes:
            handler.report(
                'unknown class', xml_path, obj['name_line'] or obj['line'],
                f'{name!r} is not one of the {len(classes)} classes of '
                'metainfo (to train on a subset of the classes on purpose, '
                'use skip)')
            return None
        box = obj['bndbox']
        line = obj['bndbox_line'] or obj['line']
        try:
            x1, y1, x2, y2 = (float(box[k])
                              for k in ('xmin', 'ymin', 'xmax', 'ymax'))
        except (KeyError, ValueError):
            handler.report('wrong field count', xml_path, line,
                           '<bndbox> needs numeric xmin, ymin, xmax, ymax; '
                           f'found {box}')
            return None
        if x2 <= x1 or y2 <= y1:
            handler.report('non-positive box size', xml_path, line,
                           f'box ({x1:g}, {y1:g}, {x2:g}, {y2:g}) has '
                           'non-positive width or height')
            return None
        # as mmdet: integer pixels, minus one (VOC is 1-based)
        bbox = [int(v) - 1 for v in (x1, y1, x2, y2)]
        ignore = obj['difficult'] not in (None, '', '0')
        min_size = self.bbox_min_size
        if min_size is not None:
            assert not self.test_mode
            if bbox[2] - bbox[0] < min_size or bbox[3] - bbox[1] < min_size:
                ignore = True
        return dict(bbox=bbox, bbox_label=self.cat2label[name],
                    ignore_flag=int(ignore))
