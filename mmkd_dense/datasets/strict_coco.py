# Copyright (c) mmkd_dense contributors. All rights reserved.
"""COCO-format dataset that reports what mmdet's CocoDataset drops."""
import json
import logging
import math
import os
import os.path as osp
from collections import defaultdict
from typing import Dict, List, Optional, Set, Union

from mmdet.datasets import CocoDataset
from mmengine.logging import print_log

from ..registry import DATASETS
from .bad_input_handler import BadInputHandler

__all__ = ['StrictCocoMixin', 'StrictCocoDataset', 'find_missing_files']


def find_missing_files(paths: List[str]) -> List[str]:
    """The entries of ``paths`` that are not existing files.

    One ``os.scandir`` per distinct folder instead of one ``stat`` per path
    (timings in docs/datasets.md). Entries that are not files (e.g. a
    folder with the image's name, a broken symlink) count as missing;
    symlinks to files count as present.

    Args:
        paths (list[str]): file paths.

    Returns:
        list[str]: the missing ones, in input order.
    """
    split = [osp.split(p) for p in paths]
    by_dir: Dict[str, Set[str]] = defaultdict(set)
    for folder, name in split:
        by_dir[folder].add(name)
    present: Dict[str, Set[str]] = {}
    for folder, wanted in by_dir.items():
        names: Set[str] = set()
        try:
            with os.scandir(folder or '.') as it:
                for entry in it:
                    if entry.name not in wanted:
                        continue
                    try:
                        if entry.is_file():
                            names.add(entry.name)
                    except OSError:  # pragma: no cover - broken entry
                        continue
        except (FileNotFoundError, NotADirectoryError):
            pass
        except OSError:  # pragma: no cover - unreadable folder: stat each
            names = {n for n in wanted if osp.isfile(osp.join(folder, n))}
        present[folder] = names
    return [
        p for p, (folder, name) in zip(paths, split)
        if name not in present[folder]
    ]


def _short(ids) -> str:
    """A sorted id list, abbreviated when long."""
    ids = sorted(ids)
    if len(ids) <= 10:
        return str(ids)
    return f'[{", ".join(map(str, ids[:5]))}, ..., {ids[-1]}] ({len(ids)})'


class StrictCocoMixin:
    """Strict loading for :class:`mmdet.datasets.CocoDataset` subclasses.

    mmdet's ``CocoDataset`` silently drops annotations whose
    ``category_id`` is not among ``metainfo['classes']`` and boxes with
    ``w < 1``, ``h < 1``, zero area or no overlap with the image; an empty
    ``annotations`` list or a truncated json fail with errors that do not
    name the file, and a missing image only fails when its batch is loaded.
    With this mixin, while the dataset is built (before training starts):

    * a truncated / malformed json is a ``ValueError`` naming the file,
      line and column;
    * a json without images, or whose images have no annotation at all, is
      a ``ValueError`` naming the file (``allow_no_annotations=True`` for
      image-info-only files such as COCO test-dev);
    * an annotation with an unknown ``category_id``, a bbox that is not four
      finite numbers, a non-positive width/height, a box entirely outside
      its image, or an image entry without width/height is a
      :class:`~mmkd_dense.datasets.BadInputError` naming the json and the
      record (annotation id, image file);
    * a missing image file is a ``BadInputError`` naming it (checked for all
      images at once, one directory listing per folder);
    * with ``on_bad_input='skip'`` each of those records (or images) is
      skipped instead, counted, and the counts plus a few examples are
      logged as a warning; ``bad_input_counts`` keeps the counts;
    * boxes mmdet drops as too small but which are valid (``0 < w < 1``,
      ``0 < h < 1`` or ``area <= 0``) are still dropped, as in mmdet, and
      counted in a warning.

    Args:
        on_bad_input (str): ``'raise'`` (default) or ``'skip'``.
        check_images (bool): check up front that every image file exists
            (local files only, i.e. ``backend_args is None``). Defaults to
            True.
        allow_no_annotations (bool): accept a json whose images have no
            annotation at all. Defaults to False.
    """

    def __init__(self,
                 *args,
                 on_bad_input: str = 'raise',
                 check_images: bool = True,
                 allow_no_annotations: bool = False,
                 **kwargs) -> None:
        BadInputHandler(on_bad_input)  # validate the mode early
        self.on_bad_input = on_bad_input
        self.check_images = check_images
        self.allow_no_annotations = allow_no_annotations
        self.bad_input_counts: Dict[str, int] = {}
        super().__init__(*args, **kwargs)

    # ------------------------------------------------------------------
    def load_data_list(self) -> List[dict]:
        """Load the json as mmdet does, checking every record and image.

        Returns:
            list[dict]: mmdet data infos (bad records/images removed in
            ``'skip'`` mode).
        """
        name = type(self).__name__
        self._handler = BadInputHandler(self.on_bad_input, source=name)
        self._num_anns = 0
        self._unknown_cats: Dict = {}
        self._first_unknown: Optional[str] = None
        self._tiny = 0
        self._tiny_examples: List[str] = []
        if self.backend_args is None and not osp.isfile(self.ann_file):
            raise FileNotFoundError(
                f'{name}: annotation file {self.ann_file} does not exist; '
                'check data_root and ann_file of the dataset config.')
        try:
            data_list = super().load_data_list()
        except json.JSONDecodeError as e:
            raise ValueError(
                f'{self.ann_file}, line {e.lineno}, column {e.colno}: '
                f'malformed JSON ({e.msg}). The file is truncated or not '
                'JSON: write it again (re-run the converter or re-download '
                'it).') from None
        if not data_list:
            raise ValueError(
                f'{self.ann_file} lists no image (its "images" list is '
                'empty): nothing to train or test on. Check that ann_file '
                'is the right file.')
        if self._num_anns == 0 and not self.allow_no_annotations:
            raise ValueError(
                f'{self.ann_file} has no annotation for any of its '
                f'{len(data_list)} images (the "annotations" list is empty, '
                'or no annotation\'s image_id matches an image). Check the '
                'file; for an image-info-only file (e.g. COCO test-dev) '
                'set allow_no_annotations=True on the dataset.')
        if self._unknown_cats:
            items = list(self._unknown_cats.items())
            try:
                ids = dict(sorted(items))
            except TypeError:  # mixed id types, e.g. None and int
                ids = dict(sorted(items, key=str))
            self._handler.report(
                'unknown category', self.ann_file, None,
                f'{sum(ids.values())} annotations have category ids that are '
                f'not json categories of the {len(self.metainfo["classes"])} '
                f'metainfo classes (those have ids {_short(self.cat_ids)}); '
                f'id: count = {ids}; first: {self._first_unknown}. Use the '
                'class list the json was written with (metainfo=dict('
                "classes=...) or the dataset's version argument); to train "
                'on a subset of the classes on purpose, use skip')
        data_list = [d for d in data_list if not d.pop('_bad_image', False)]
        data_list = self._drop_missing_images(data_list)
        self._handler.log()
        if not data_list:
            raise ValueError(
                f'{name}: every image of {self.ann_file} was skipped as bad '
                f'input ({self._handler.summary()}); nothing is left.')
        self.bad_input_counts = dict(self._handler.counts)
        if self._tiny:
            examples = '; '.join(self._tiny_examples)
            print_log(
                f'{name}: {self._tiny} boxes in {self.ann_file} have '
                f'0 < w < 1, 0 < h < 1 or area <= 0; they are not used, as '
                f'in mmdet (e.g. {examples}).',
                logger='current', level=logging.WARNING)
        return data_list

    def _drop_missing_images(self, data_list: List[dict]) -> List[dict]:
        if not self.check_images or self.backend_args is not None:
            return data_list
        paths = [info['img_path'] for info in data_list]
        missing = find_missing_files(paths)
        if not missing:
            return data_list
        folder = osp.dirname(missing[0])
        if not osp.isdir(folder):
            raise FileNotFoundError(
                f'{type(self).__name__}: image folder {folder} (from '
                f'data_root + data_prefix.img) does not exist; '
                f'{len(missing)} of the {len(paths)} images of '
                f'{self.ann_file} are there. Check data_root and '
                'data_prefix of the dataset config.')
        for path in missing:
            self._handler.report(
                'missing image file', path, None,
                f'listed in {self.ann_file}; {len(missing)} of '
                f'{len(paths)} images are missing')
        missing_set = set(missing)
        return [d for d in data_list if d['img_path'] not in missing_set]

    # ------------------------------------------------------------------
    def _record(self, ann: dict, img: dict) -> str:
        return (f"annotation id {ann.get('id')} of image "
                f"{img.get('file_name')!r} (image id {img.get('id')})")

    def _check_ann(self, ann: dict, img: dict) -> Optional[str]:
        """Report a bad annotation; return 'tiny' for boxes mmdet drops,
        'bad' for a reported one, None when it is fine."""
        handler, path = self._handler, self.ann_file
        if ann.get('category_id') not in self.cat_ids:
            if handler.mode == 'raise':
                # collected, raised with the count per id after loading
                cat = ann.get('category_id')
                self._unknown_cats[cat] = self._unknown_cats.get(cat, 0) + 1
                if self._first_unknown is None:
                    self._first_unknown = self._record(ann, img)
            else:
                handler.report(
                    'unknown category', path, None,
                    f"{self._record(ann, img)}: category_id "
                    f"{ann.get('category_id')!r}")
            return 'bad'
        box = ann.get('bbox')
        ok = isinstance(box, (list, tuple)) and len(box) == 4
        if ok:
            try:
                box = [float(v) for v in box]
                ok = all(math.isfinite(v) for v in box)
            except (TypeError, ValueError):
                ok = False
        if not ok or 'area' not in ann:
            handler.report(
                'malformed annotation', path, None,
                f"{self._record(ann, img)}: needs bbox [x, y, w, h] of four "
                f"finite numbers and an area; found bbox={ann.get('bbox')!r}"
                f", area={ann.get('area', '<missing>')!r}")
            return 'bad'
        x1, y1, w, h = box
        if w <= 0 or h <= 0:
            handler.report(
                'non-positive box size', path, None,
                f'{self._record(ann, img)}: bbox {ann["bbox"]} has width '
                f'{w:g} and height {h:g} (COCO bbox is [x, y, w, h])')
            return 'bad'
        inter_w = max(0, min(x1 + w, img['width']) - max(x1, 0))
        inter_h = max(0, min(y1 + h, img['height']) - max(y1, 0))
        if inter_w * inter_h == 0:
            handler.report(
                'box outside the image', path, None,
                f'{self._record(ann, img)}: bbox {ann["bbox"]} does not '
                f"overlap the {img['width']}x{img['height']} image")
            return 'bad'
        if w < 1 or h < 1 or ann['area'] <= 0:
            self._tiny += 1
            if len(self._tiny_examples) < 3:
                self._tiny_examples.append(
                    f"{self._record(ann, img)}: bbox {ann['bbox']}, "
                    f"area {ann['area']}")
            return 'tiny'
        return None

    def parse_data_info(self, raw_data_info: dict) -> Union[dict, List[dict]]:
        """Check the image entry and each annotation, then parse as mmdet
        (records reported in ``'skip'`` mode are left out)."""
        img = raw_data_info['raw_img_info']
        anns = raw_data_info['raw_ann_info']
        self._num_anns += len(anns)
        try:
            size_ok = float(img['width']) > 0 and float(img['height']) > 0
        except (KeyError, TypeError, ValueError):
            size_ok = False
        if not size_ok:
            self._handler.report(
                'missing image size', self.ann_file, None,
                f"image {img.get('file_name')!r} (id {img.get('id')}) needs "
                f"positive width and height; found width="
                f"{img.get('width')!r}, height={img.get('height')!r}")
            # skip mode: parse without annotations, drop after loading
            info = super().parse_data_info(dict(
                raw_data_info, raw_ann_info=[],
                raw_img_info=dict(img, width=0, height=0)))
            info['_bad_image'] = True
            return info
        kept = [
            a for a in anns
            if a.get('ignore', False) or self._check_ann(a, img) != 'bad'
        ]
        if len(kept) != len(anns):
            raw_data_info = dict(raw_data_info, raw_ann_info=kept)
        return super().parse_data_info(raw_data_info)


@DATASETS.register_module()
class StrictCocoDataset(StrictCocoMixin, CocoDataset):
    """:class:`mmdet.datasets.CocoDataset` without silent drops or late
    failures: see :class:`StrictCocoMixin` for what is checked and the
    ``on_bad_input`` / ``check_images`` / ``allow_no_annotations``
    arguments. The default dataset of every COCO-format config shipped
    here."""
