# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Cityscapes gtFine -> 8-class COCO detection json (mmdet's
``instancesonly_filtered_gtFine_<split>.json``).

Core of ``tools/dataset_converters/cityscapes.py``. Instances come from the
official ``*_gtFine_instanceIds.png`` (value = label id * 1000 + index for
instance classes, label id alone for groups / stuff); when that file is
absent it is rendered from ``*_gtFine_polygons.json`` with
``cityscapesscripts`` (depth-ordered polygons, so boxes cover visible
pixels only). Kept: the 8 instance classes of mmdet's CityscapesDataset;
group regions (``cargroup`` ...) are not instances and are only counted.
Category ids are the Cityscapes label ids, names the class names.
"""
import json
import os
import os.path as osp
import time
from multiprocessing import Pool
from typing import Dict, List, Optional, Sequence

import numpy as np

from ..bad_input_handler import BadInputHandler
from ..class_names import CITYSCAPES_INSTANCE_CLASSES
from ._io import check_output_path, write_json_atomic

__all__ = [
    'require_cityscapesscripts', 'cityscapes_label_ids',
    'instances_from_id_map', 'convert_cityscapes_split'
]

INSTALL_HINT = ('cityscapesscripts is required for the Cityscapes '
                'converter: pip install cityscapesscripts (it also needs '
                'pyquaternion). See docs/datasets.md.')


def require_cityscapesscripts():
    """Import ``cityscapesscripts.helpers.labels`` or fail clearly.

    Returns:
        module: ``cityscapesscripts.helpers.labels``.

    Raises:
        ImportError: with the install command.
    """
    try:
        from cityscapesscripts.helpers import labels
    except ImportError as e:  # pragma: no cover - depends on environment
        raise ImportError(f'{INSTALL_HINT} ({e})') from e
    return labels


def cityscapes_label_ids(
        classes: Sequence[str] = CITYSCAPES_INSTANCE_CLASSES
) -> Dict[int, str]:
    """Cityscapes label id -> class name for ``classes`` (from
    ``cityscapesscripts.helpers.labels.name2label``)."""
    labels = require_cityscapesscripts()
    out = {}
    for name in classes:
        label = labels.name2label[name]
        if not label.hasInstances:
            raise ValueError(f'Cityscapes class {name!r} has no instances')
        out[label.id] = name
    return out


def instances_from_id_map(inst_map: np.ndarray,
                          label_ids: Dict[int, str]) -> Dict:
    """Boxes, areas and RLE masks of the instances in an instance-id map.

    Args:
        inst_map (np.ndarray): (H, W) int instance ids (label id * 1000 +
            index for instances, label id alone for groups / stuff).
        label_ids (dict): label id -> class name of the kept classes.

    Returns:
        dict: ``instances`` (list of dict(``name``, ``label_id``, ``bbox``
        [x, y, w, h], ``area``, ``segmentation`` RLE)), ``groups`` (number
        of group regions of kept classes, which are not instances).
    """
    from pycocotools import mask as mask_util
    values = np.unique(inst_map)
    instances = []
    groups = 0
    for v in values.tolist():
        label_id = v // 1000 if v >= 1000 else v
        if label_id not in label_ids:
            continue
        if v < 1000:
            groups += 1
            continue
        mask = inst_map == v
        ys = np.nonzero(mask.any(axis=1))[0]
        xs = np.nonzero(mask.any(axis=0))[0]
        x0, x1, y0, y1 = int(xs[0]), int(xs[-1]), int(ys[0]), int(ys[-1])
        rle = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
        rle['counts'] = rle['counts'].decode('ascii')
        instances.append(dict(
            name=label_ids[label_id], label_id=label_id,
            bbox=[float(x0), float(y0), float(x1 - x0 + 1),
                  float(y1 - y0 + 1)],
            area=float(mask.sum()), segmentation=rle))
    return dict(instances=instances, groups=groups)


def _render_instance_ids(polygon_json: str) -> np.ndarray:
    from cityscapesscripts.helpers.annotation import Annotation
    from cityscapesscripts.preparation.json2instanceImg import \
        createInstanceImage
    ann = Annotation()
    ann.fromJsonFile(polygon_json)
    return np.asarray(createInstanceImage(ann, 'ids'), dtype=np.int64)


def _convert_one(job: dict) -> dict:
    import cv2
    handler = BadInputHandler(job['on_bad_input'], source='cityscapes')
    out = dict(ok=False, counts={}, examples=[])
    poly = job['polygon_json']
    try:
        with open(poly) as f:
            meta = json.load(f)
        height, width = int(meta['imgHeight']), int(meta['imgWidth'])
    except json.JSONDecodeError as e:
        handler.report('malformed json', poly, e.lineno, e.msg)
    except (KeyError, TypeError, ValueError) as e:
        handler.report('malformed json', poly, None,
                       f'needs imgHeight/imgWidth ({e})')
    else:
        if not osp.isfile(job['img_path']):
            handler.report('missing image file', job['img_path'], None,
                           f'referenced by {poly}')
        else:
            inst_png = job['instance_png']
            if osp.isfile(inst_png):
                inst_map = cv2.imread(inst_png, cv2.IMREAD_UNCHANGED)
                if inst_map is None:
                    handler.report('unreadable instance map', inst_png)
            else:
                inst_map = _render_instance_ids(poly)
            if inst_map is not None:
                if inst_map.shape[:2] != (height, width):
                    handler.report(
                        'size mismatch', poly, None,
                        f'imgHeight/imgWidth {height}x{width} vs instance '
                        f'map {inst_map.shape[:2]}')
                else:
                    res = instances_from_id_map(inst_map.astype(np.int64),
                                                job['label_ids'])
                    out.update(ok=True, width=width, height=height, **res)
    out.update(counts=dict(handler.counts), examples=handler.examples)
    return out


def convert_cityscapes_split(cityscapes_root: str,
                             out_dir: str,
                             split: str,
                             img_subdir: str = 'leftImg8bit',
                             gt_subdir: str = 'gtFine',
                             on_bad_input: str = 'raise',
                             nproc: int = 1,
                             overwrite: bool = False,
                             progress_every: Optional[int] = 200) -> Dict:
    """Write ``<out_dir>/instancesonly_filtered_gtFine_<split>.json``.

    Args:
        cityscapes_root (str): folder with ``leftImg8bit/`` and ``gtFine/``.
        out_dir (str): output folder (e.g. ``<root>/annotations``).
        split (str): ``train``, ``val`` or ``test``.
        on_bad_input (str): ``'raise'`` or ``'skip'``.
        nproc (int): worker processes.
        overwrite (bool): replace an existing output json.
        progress_every (int, optional): print progress every N images.

    Returns:
        dict: statistics (images, instances per class, groups, skipped,
        seconds, out_file).
    """
    t0 = time.perf_counter()
    label_ids = cityscapes_label_ids()
    gt_root = osp.join(cityscapes_root, gt_subdir, split)
    img_root = osp.join(cityscapes_root, img_subdir, split)
    for folder in (gt_root, img_root):
        if not osp.isdir(folder):
            raise FileNotFoundError(
                f'{folder} does not exist (expected <root>/{img_subdir}/'
                f'{split}/<city>/ and <root>/{gt_subdir}/{split}/<city>/).')
    out_file = osp.join(out_dir, f'instancesonly_filtered_gtFine_{split}.json')
    check_output_path(out_file, [gt_root, img_root], overwrite)
    suffix = '_gtFine_polygons.json'
    jobs: List[dict] = []
    for city in sorted(os.listdir(gt_root)):
        city_dir = osp.join(gt_root, city)
        if not osp.isdir(city_dir):
            continue
        for name in sorted(os.listdir(city_dir)):
            if not name.endswith(suffix):
                continue
            base = name[:-len(suffix)]
            rel = f'{city}/{base}_leftImg8bit.png'
            jobs.append(dict(
                polygon_json=osp.join(city_dir, name),
                instance_png=osp.join(city_dir,
                                      f'{base}_gtFine_instanceIds.png'),
                img_path=osp.join(img_root, rel), file_name=rel,
                label_ids=label_ids, on_bad_input=on_bad_input))
    if not jobs:
        raise FileNotFoundError(
            f'Cityscapes split {split!r} is empty: no <city>/*{suffix} file '
            f'in {gt_root} (expected {gt_root}/<city>/<name>{suffix}). '
            'Check the split name (--splits) and the gtFine download; '
            'nothing was written.')
    if nproc > 1:
        with Pool(nproc) as pool:
            results = pool.map(_convert_one, jobs, chunksize=8)
    else:
        results = []
        for k, job in enumerate(jobs, start=1):
            results.append(_convert_one(job))
            if progress_every and k % progress_every == 0:
                print(f'[{k}/{len(jobs)}] {split}', flush=True)
    handler = BadInputHandler(on_bad_input, source='cityscapes')
    images, anns = [], []
    per_class = {n: 0 for n in CITYSCAPES_INSTANCE_CLASSES}
    groups = 0
    for job, res in zip(jobs, results):
        for kind, count in res['counts'].items():
            handler.counts[kind] += count
        handler.examples.extend(res['examples'][:max(
            0, handler.max_examples - len(handler.examples))])
        if not res['ok']:
            continue
        img_id = len(images) + 1
        images.append(dict(id=img_id, file_name=job['file_name'],
                           width=res['width'], height=res['height'],
                           segm_file=osp.basename(job['instance_png'])))
        groups += res['groups']
        for inst in res['instances']:
            per_class[inst['name']] += 1
            anns.append(dict(id=len(anns) + 1, image_id=img_id,
                             category_id=inst['label_id'], bbox=inst['bbox'],
                             area=inst['area'], iscrowd=0,
                             segmentation=inst['segmentation']))
    categories = [dict(id=i, name=n) for i, n in sorted(label_ids.items())]
    write_json_atomic(dict(images=images, annotations=anns,
                           categories=categories), out_file)
    handler.log()
    stats = dict(images=len(images), instances=per_class, groups=groups,
                 skipped=dict(handler.counts),
                 skipped_summary=handler.summary(),
                 seconds=time.perf_counter() - t0, out_file=out_file)
    print(f'cityscapes {split}: {len(images)} images, {len(anns)} instances '
          f'{per_class}, {groups} group regions (not instances) -> '
          f'{out_file}', flush=True)
    if handler.total:
        print(handler.summary(), flush=True)
    return stats
