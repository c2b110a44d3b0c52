# Copyright (c) mmkd_dense contributors. All rights reserved.
"""DIOR / DIOR-R horizontal-box detection dataset (official XML layout)."""
import os.path as osp
from typing import List, Optional, Sequence
from xml.parsers import expat

from mmdet.datasets.base_det_dataset import BaseDetDataset
from mmengine.fileio import join_path

from ..registry import DATASETS
from .bad_input_handler import BadInputHandler
from .class_names import DIOR_CLASSES, make_palette
from .voc_xml import read_voc_xml

__all__ = ['DIORDataset']

#: DIOR-R keeps the horizontal boxes in this sub-folder of Annotations/.
DIOR_R_HBB_SUBDIR = 'Horizontal Bounding Boxes'


@DATASETS.register_module()
class DIORDataset(BaseDetDataset):
    """DIOR (Li et al., 2020) with the official VOC-style XML annotations.

    Layout (``data_root='data/DIOR/'``)::

        JPEGImages-trainval/*.jpg   JPEGImages-test/*.jpg
        Annotations/*.xml           (DIOR) or
        Annotations/Horizontal Bounding Boxes/*.xml   (DIOR-R)
        ImageSets/Main/{train,val,test}.txt

    ``data_prefix`` has ``img`` (the per-split image folder) and ``ann``
    (the XML folder). If ``ann`` contains a ``Horizontal Bounding Boxes``
    sub-folder (DIOR-R), that sub-folder is used. ``ann_file`` is an id
    list (``ImageSets/Main/<split>.txt``); ``extra_ann_files`` appends more
    lists (train + val = trainval), so the dataset stays one
    ``DIORDataset`` with a plain string ``ann_file``.

    Class names are matched case-insensitively and with surrounding blanks
    stripped (the official XMLs spell e.g. ``Expressway-Service-area`` in
    several cases; mmdet's ``XMLDataset`` would drop those silently). Boxes
    are taken as written (``minus_one=False``), ``<difficult>1`` becomes
    ``ignore_flag=1``. Unknown class names, non-numeric or non-positive
    boxes, missing image/XML files, malformed XML and files without objects
    raise :class:`~mmkd_dense.datasets.BadInputError` naming the file and
    line, unless ``on_bad_input='skip'`` (then they are skipped, counted and
    logged); ``allow_empty=True`` keeps object-less images as negatives.

    Args:
        extra_ann_files (Sequence[str]): further id lists (relative to
            ``data_root`` unless absolute), read after ``ann_file``.
        minus_one (bool): subtract 1 from every coordinate (VOC 1-based
            convention). Defaults to False.
        on_bad_input (str): ``'raise'`` or ``'skip'``.
        allow_empty (bool): keep images whose XML has no object.
        check_images (bool): check that each image file exists (local
            files only, i.e. ``backend_args is None``).
        img_suffix (str): image extension when ``<filename>`` is absent.
    """

    METAINFO = dict(classes=DIOR_CLASSES, palette=make_palette(DIOR_CLASSES))

    def __init__(self,
                 *args,
                 extra_ann_files: Sequence[str] = (),
                 minus_one: bool = False,
                 on_bad_input: str = 'raise',
                 allow_empty: bool = False,
                 check_images: bool = True,
                 img_suffix: str = '.jpg',
                 **kwargs) -> None:
        if isinstance(extra_ann_files, str):
            extra_ann_files = [extra_ann_files]
        self.extra_ann_files = list(extra_ann_files)
        self.minus_one = minus_one
        self.on_bad_input = on_bad_input
        self.allow_empty = allow_empty
        self.check_images = check_images
        self.img_suffix = img_suffix
        kwargs.setdefault('data_prefix',
                          dict(img='JPEGImages-trainval/', ann='Annotations/'))
        BadInputHandler(on_bad_input)  # validate the mode early
        super().__init__(*args, **kwargs)

    def _join_prefix(self) -> None:
        """Join ``data_root`` with ``data_prefix`` and every id list."""
        super()._join_prefix()
        self.extra_ann_files = [
            f if osp.isabs(f) or not self.data_root else join_path(
                self.data_root, f) for f in self.extra_ann_files
        ]

    @property
    def ann_files(self) -> List[str]:
        """``ann_file`` followed by ``extra_ann_files``."""
        return [self.ann_file] + self.extra_ann_files

    def _resolve_ann_dir(self) -> str:
        ann_dir = self.data_prefix.get('ann', '')
        if not ann_dir:
            raise ValueError(
                "DIORDataset needs data_prefix['ann'] (the XML folder, e.g. "
                "data_prefix=dict(img='JPEGImages-trainval/', "
                "ann='Annotations/')).")
        hbb = osp.join(ann_dir, DIOR_R_HBB_SUBDIR)
        return hbb if osp.isdir(hbb) else ann_dir

    def _read_ids(self, path: str, handler: BadInputHandler) -> List[str]:
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'DIOR id list {path} does not exist: check data_root and '
                'ann_file (expected ImageSets/Main/{train,val,test}.txt).')
        with open(path) as f:
            ids = [line.strip() for line in f]
        ids = [i for i in ids if i]
        if not ids:
            handler.report('empty id list', path, None,
                           'the file lists no image id')
        return ids

    def load_data_list(self) -> List[dict]:
        """Read every listed image's XML.

        Returns:
            list[dict]: mmdet data infos; ``instances`` hold ``bbox``
            (xyxy, pixels), ``bbox_label`` and ``ignore_flag``.
        """
        handler = BadInputHandler(self.on_bad_input,
                                  source=type(self).__name__)
        class_map = {c.lower(): i for i, c in
                     enumerate(self.metainfo['classes'])}
        ann_dir = self._resolve_ann_dir()
        img_dir = self.data_prefix.get('img', '')
        check = self.check_images and self.backend_args is None
        data_list = []
        for ann_file in self.ann_files:
            for img_id in self._read_ids(ann_file, handler):
                info = self._load_one(img_id, ann_dir, img_dir, class_map,
                                      handler, check)
                if info is not None:
                    data_list.append(info)
        handler.log()
        self.bad_input_counts = dict(handler.counts)
        return data_list

    def _load_one(self, img_id: str, ann_dir: str, img_dir: str,
                  class_map: dict, handler: BadInputHandler,
                  check: bool) -> Optional[dict]:
        xml_path = osp.join(ann_dir, f'{img_id}.xml')
        if not osp.isfile(xml_path):
            handler.report('missing annotation file', xml_path, None,
                           f'image id {img_id!r} is listed but has no XML')
            return None
        try:
            raw = read_voc_xml(xml_path)
        except expat.ExpatError as e:
            handler.report('malformed XML', xml_path, e.lineno, str(e))
            return None
        file_name = raw['filename'] or img_id
        if not osp.splitext(file_name)[1]:
            file_name += self.img_suffix
        img_path = osp.join(img_dir, file_name)
        if check and not osp.isfile(img_path):
            handler.report('missing image file', img_path, None,
                           f'referenced by {xml_path}')
            return None
        width, height = self._image_size(raw, img_path, xml_path, handler)
        if width is None:
            return None
        instances = []
        for obj in raw['objects']:
            inst = self._parse_object(obj, xml_path, class_map, handler)
            if inst is not None:
                instances.append(inst)
        if not raw['objects'] and not self.allow_empty:
            handler.report('empty annotation file', xml_path, None,
                           'no <object>; pass allow_empty=True to keep '
                           'object-less images')
            return None
        return dict(img_path=img_path, img_id=img_id, seg_map_path=None,
                    width=width, height=height, instances=instances)

    @staticmethod
    def _image_size(raw: dict, img_path: str, xml_path: str,
                    handler: BadInputHandler):
        try:
            width, height = int(float(raw['width'])), int(float(
                raw['height']))
            if width > 0 and height > 0:
                return width, height
        except (TypeError, ValueError):
            pass
        if osp.isfile(img_path):
            from PIL import Image
            with Image.open(img_path) as im:
                return im.size
        handler.report('missing image size', xml_path, None,
                       'no valid <size> and the image cannot be read')
        return None, None

    def _parse_object(self, obj: dict, xml_path: str, class_map: dict,
                      handler: BadInputHandler) -> Optional[dict]:
        name = (obj['name'] or '').strip()
        label = class_map.get(name.lower())
        if label is None:
            handler.report('unknown class', xml_path,
                           obj['name_line'] or obj['line'],
                           f'{name!r} is not one of the '
                           f"{len(class_map)} classes of metainfo")
            return None
        box = obj['bndbox']
        line = obj['bndbox_line'] or obj['line']
        try:
            x1, y1, x2, y2 = (float(box[k])
                              for k in ('xmin', 'ymin', 'xmax', 'ymax'))
        except (KeyError, ValueError):
            handler.report('wrong field count', xml_path, line,
                           f'<bndbox> needs numeric xmin, ymin, xmax, ymax; '
                           f'found {box}')
            return None
        if x2 <= x1 or y2 <= y1:
            handler.report('negative size', xml_path, line,
                           f'box ({x1}, {y1}, {x2}, {y2}) has non-positive '
                           'width or height')
            return None
        if self.minus_one:
            x1, y1, x2, y2 = x1 - 1, y1 - 1, x2 - 1, y2 - 1
        difficult = obj['difficult']
        ignore = int(difficult not in (None, '', '0'))
        return dict(bbox=[x1, y1, x2, y2], bbox_label=label,
                    ignore_flag=ignore)

    def filter_data(self) -> List[dict]:
        """Drop images smaller than ``filter_cfg.min_size`` and, with
        ``filter_empty_gt``, images without a non-ignored instance (train
        mode only)."""
        if self.test_mode or not self.filter_cfg:
            return self.data_list
        filter_empty = self.filter_cfg.get('filter_empty_gt', False)
        min_size = self.filter_cfg.get('min_size', 0)
        keep = []
        for info in self.data_list:
            if filter_empty and not any(
                    i['ignore_flag'] == 0 for i in info['instances']):
                continue
            if min(info['width'], info['height']) >= min_size:
                keep.append(info)
        return keep
