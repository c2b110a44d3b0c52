# Copyright (c) mmkd_dense contributors. All rights reserved.
"""VisDrone2019-DET txt -> COCO json (``tools/dataset_converters/
visdrone2coco.py``)."""
import os
import os.path as osp
import time
from typing import Dict, Optional

from ..bad_input_handler import BadInputHandler
from ..class_names import VISDRONE_CLASSES, VISDRONE_IGNORE_CATEGORIES
from ..visdrone_labels import read_visdrone_annotations
from ._io import check_output_path, write_json_atomic

__all__ = ['convert_visdrone_split', 'IMAGE_EXTS']

IMAGE_EXTS = ('.jpg', '.jpeg', '.png')


def convert_visdrone_split(split_dir: str,
                           out_file: str,
                           img_subdir: str = 'images',
                           ann_subdir: str = 'annotations',
                           on_bad_input: str = 'raise',
                           allow_empty: bool = False,
                           overwrite: bool = False,
                           progress_every: Optional[int] = 500) -> Dict:
    """Convert one VisDrone-DET split folder to a COCO json.

    Mapping (VisDrone toolkit semantics):

    * category 1..10 with score 1 -> ``category_id`` 1..10, ``iscrowd=0``;
    * category 1..10 with score 0 -> same category, ``iscrowd=1`` (ignored
      for that class);
    * category 0 (ignored region) and 11 (others) -> class-agnostic ignore
      region: one ``iscrowd=1`` copy per class, all with the same
      ``ignore_region_id``, so pycocotools ignores detections of every
      class that fall inside it.

    Every annotation keeps ``visdrone_category``, ``truncation`` and
    ``occlusion``.

    Args:
        split_dir (str): e.g. ``data/VisDrone/VisDrone2019-DET-train``.
        out_file (str): json to write (not inside the input folders).
        img_subdir (str): image folder inside ``split_dir``.
        ann_subdir (str): annotation folder inside ``split_dir``.
        on_bad_input (str): ``'raise'`` or ``'skip'`` (count and report).
        allow_empty (bool): keep images whose txt is empty as negatives.
        overwrite (bool): replace an existing ``out_file``.
        progress_every (int, optional): print progress every N images.

    Returns:
        dict: statistics (images, objects, ignore_regions,
        class_ignored, skipped counts, seconds).
    """
    from PIL import Image
    t0 = time.perf_counter()
    img_root = osp.join(split_dir, img_subdir)
    ann_root = osp.join(split_dir, ann_subdir)
    for folder in (img_root, ann_root):
        if not osp.isdir(folder):
            raise FileNotFoundError(
                f'{folder} does not exist: split_dir must be an extracted '
                'VisDrone2019-DET split with images/ and annotations/.')
    check_output_path(out_file, [img_root, ann_root], overwrite)
    handler = BadInputHandler(on_bad_input, source='visdrone2coco')

    images = {osp.splitext(n)[0]: n for n in os.listdir(img_root)
              if osp.splitext(n)[1].lower() in IMAGE_EXTS}
    anns = {osp.splitext(n)[0]: n for n in os.listdir(ann_root)
            if n.endswith('.txt')}
    categories = [dict(id=i + 1, name=n, supercategory='visdrone')
                  for i, n in enumerate(VISDRONE_CLASSES)]
    num_classes = len(VISDRONE_CLASSES)
    out_images, out_anns = [], []
    stats = dict(images=0, objects=0, ignore_regions=0, class_ignored=0)
    region_id = 0
    stems = sorted(set(images) | set(anns))
    for k, stem in enumerate(stems, start=1):
        if stem not in anns:
            handler.report('missing annotation file',
                           osp.join(ann_root, f'{stem}.txt'), None,
                           f'image {images[stem]} has no annotation file')
            continue
        ann_path = osp.join(ann_root, anns[stem])
        if stem not in images:
            handler.report('missing image file',
                           osp.join(img_root, f'{stem}.jpg'), None,
                           f'referenced by {ann_path}')
            continue
        n_bad = handler.total
        parsed = read_visdrone_annotations(ann_path, handler, allow_empty)
        if parsed['empty'] and not allow_empty and handler.total > n_bad:
            continue  # empty file, skipped and counted
        with Image.open(osp.join(img_root, images[stem])) as im:
            width, height = im.size
        img_id = len(out_images) + 1
        out_images.append(dict(id=img_id, file_name=images[stem],
                               width=width, height=height))
        for box, score, cat, trunc, occ in zip(
                parsed['boxes'].tolist(), parsed['scores'].tolist(),
                parsed['categories'].tolist(),
                parsed['truncation'].tolist(), parsed['occlusion'].tolist()):
            extra = dict(image_id=img_id, bbox=box,
                         area=float(box[2] * box[3]),
                         visdrone_category=int(cat), truncation=int(trunc),
                         occlusion=int(occ))
            if cat in VISDRONE_IGNORE_CATEGORIES:
                region_id += 1
                stats['ignore_regions'] += 1
                for c in range(1, num_classes + 1):
                    out_anns.append(dict(extra, id=len(out_anns) + 1,
                                         category_id=c, iscrowd=1,
                                         ignore_region_id=region_id))
            else:
                crowd = int(score == 0)
                stats['class_ignored' if crowd else 'objects'] += 1
                out_anns.append(dict(extra, id=len(out_anns) + 1,
                                     category_id=int(cat), iscrowd=crowd))
        if progress_every and k % progress_every == 0:
            print(f'[{k}/{len(stems)}] {split_dir}', flush=True)
    stats['images'] = len(out_images)
    write_json_atomic(
        dict(info=dict(description='VisDrone2019-DET converted by '
                       'mmkd_dense visdrone2coco.py',
                       source=osp.abspath(split_dir)),
             images=out_images, annotations=out_anns,
             categories=categories), out_file)
    handler.log()
    stats['skipped'] = dict(handler.counts)
    stats['skipped_summary'] = handler.summary()
    stats['seconds'] = time.perf_counter() - t0
    return stats
