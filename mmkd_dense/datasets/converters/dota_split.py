# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Split DOTA images into overlapping patches with horizontal boxes.

Core of ``tools/dataset_converters/dota_split.py``. Same protocol as
mmrotate / BboxToolkit ``img_split.py`` (1024 px windows, gap 200, objects
kept when the intersection over the object's own area is >= 0.7, patches
smaller than the window padded with the BGR mean), but horizontal boxes:
each kept object's box is the bounding box of its polygon clipped to the
window (and the image). Writes COCO json for the patches and for the full
images (the latter is what the full-image evaluation merges back to).
"""
import os
import os.path as osp
import time
from concurrent.futures import ThreadPoolExecutor
from multiprocessing import Pool
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..bad_input_handler import BadInputHandler
from ..class_names import DOTA_V10_CLASSES, DOTA_V15_CLASSES
from ..dota_labels import read_dota_labels
from ._io import check_disjoint, check_output_path, write_json_atomic

__all__ = [
    'compute_windows', 'assign_objects', 'polygons_to_hbb', 'patch_name',
    'split_dota', 'split_one_image', 'png_write_params', 'IMAGE_EXTS'
]

IMAGE_EXTS = ('.png', '.jpg', '.jpeg', '.tif', '.tiff', '.bmp')
PAD_VALUE_BGR = (104, 116, 124)


def png_write_params(png_compression: Optional[int] = None) -> List[int]:
    """OpenCV PNG parameters.

    ``None`` (default): zlib level 1, Huffman-only strategy and the Paeth
    filter -- lossless, about the size of OpenCV's default (level 3) and
    ~3x faster to write (measured in docs/datasets.md); falls back to plain
    level 1 on OpenCV builds without ``IMWRITE_PNG_FILTER`` (< 4.10). An
    int is a plain zlib level 0-9.
    """
    import cv2
    if png_compression is not None:
        return [cv2.IMWRITE_PNG_COMPRESSION, int(png_compression)]
    params = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_STRATEGY,
              cv2.IMWRITE_PNG_STRATEGY_HUFFMAN_ONLY]
    if hasattr(cv2, 'IMWRITE_PNG_FILTER'):
        params += [cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_PAETH]
    return params


def patch_name(stem: str, size: int, x: int, y: int) -> str:
    """``<stem>__<size>__<x>___<y>`` (mmrotate's convention)."""
    return f'{stem}__{size}__{x}___{y}'


def _starts(length: int, size: int, step: int) -> np.ndarray:
    if length <= size:
        return np.zeros(1, dtype=np.int64)
    num = int(np.ceil((length - size) / step)) + 1
    starts = step * np.arange(num, dtype=np.int64)
    starts[-1] = min(starts[-1], length - size)
    return np.unique(starts)


def compute_windows(width: int,
                    height: int,
                    size: int = 1024,
                    gap: int = 200,
                    img_rate_thr: float = 0.6) -> np.ndarray:
    """Sliding windows over an image.

    Window starts step by ``size - gap``; the last window is shifted to end
    at the image border. Windows whose in-image area is below
    ``img_rate_thr`` of the window area are dropped unless no window
    reaches it (then the best ones are kept).

    Args:
        width (int): image width W.
        height (int): image height H.
        size (int): window side.
        gap (int): overlap between neighbouring windows.
        img_rate_thr (float): minimum in-image fraction of a window.

    Returns:
        np.ndarray: (k, 4) int64 windows ``x1, y1, x2, y2`` (x2 - x1 =
        size; x2 may exceed W when W < size).
    """
    if gap >= size:
        raise ValueError(f'gap ({gap}) must be smaller than size ({size})')
    xs = _starts(width, size, size - gap)
    ys = _starts(height, size, size - gap)
    gx, gy = np.meshgrid(xs, ys)
    x1, y1 = gx.ravel(), gy.ravel()
    wins = np.stack([x1, y1, x1 + size, y1 + size], axis=1)
    in_w = np.minimum(wins[:, 2], width) - wins[:, 0]
    in_h = np.minimum(wins[:, 3], height) - wins[:, 1]
    rates = in_w * in_h / float(size * size)
    keep = rates >= img_rate_thr
    if not keep.any():
        keep = np.isclose(rates, rates.max())
    return wins[keep]


def polygons_to_hbb(polys: np.ndarray) -> np.ndarray:
    """(n, 8) polygons -> (n, 4) ``x1, y1, x2, y2`` bounding boxes."""
    pts = polys.reshape(-1, 4, 2)
    return np.concatenate([pts.min(axis=1), pts.max(axis=1)], axis=1)


def assign_objects(polys: np.ndarray, windows: np.ndarray, width: int,
                   height: int, iof_thr: float = 0.7
                   ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Objects kept by each window, with clipped horizontal boxes.

    IoF = area(convex hull of polygon ∩ window) / area(hull); pairs with
    IoF >= ``iof_thr`` are kept and their box is the bounding box of the
    intersection, clipped to the image. Vectorised over all overlapping
    (object, window) pairs with shapely 2.

    Args:
        polys (np.ndarray): (n, 8) polygons in image pixels.
        windows (np.ndarray): (k, 4) windows from :func:`compute_windows`.
        width (int): image width.
        height (int): image height.
        iof_thr (float): keep threshold.

    Returns:
        tuple: ``obj_idx`` (m,), ``win_idx`` (m,), ``boxes`` (m, 4) float64
        in image pixels.
    """
    import shapely
    n = len(polys)
    if n == 0 or len(windows) == 0:
        return (np.zeros(0, np.int64), np.zeros(0, np.int64),
                np.zeros((0, 4)))
    hbb = polygons_to_hbb(polys)
    wins = windows.astype(np.float64)
    overlap = ((hbb[:, None, 0] < wins[None, :, 2]) &
               (hbb[:, None, 2] > wins[None, :, 0]) &
               (hbb[:, None, 1] < wins[None, :, 3]) &
               (hbb[:, None, 3] > wins[None, :, 1]))
    obj_idx, win_idx = np.nonzero(overlap)
    hulls = shapely.convex_hull(shapely.multipoints(polys.reshape(n, 4, 2)))
    areas = shapely.area(hulls)
    boxes = shapely.box(wins[:, 0], wins[:, 1], wins[:, 2], wins[:, 3])
    inter = shapely.intersection(hulls[obj_idx], boxes[win_idx])
    iof = shapely.area(inter) / np.maximum(areas[obj_idx], 1e-12)
    keep = iof >= iof_thr
    obj_idx, win_idx, inter = obj_idx[keep], win_idx[keep], inter[keep]
    clipped = shapely.bounds(inter).reshape(-1, 4)
    clipped[:, 0::2] = clipped[:, 0::2].clip(0, width)
    clipped[:, 1::2] = clipped[:, 1::2].clip(0, height)
    return obj_idx, win_idx, clipped


def split_one_image(img_path: str, label_path: Optional[str],
                    out_img_dir: str, classes: Sequence[str], size: int,
                    gap: int, iof_thr: float, img_rate_thr: float,
                    on_bad_input: str, allow_empty: bool,
                    png_compression: Optional[int] = None,
                    write_images: bool = True) -> Dict:
    """Split one image (worker function).

    Returns:
        dict: ``file_name``, ``width``, ``height``, ``full`` (boxes,
        labels, difficult of the whole image), ``patches`` (list of dicts
        with ``file_name``, ``x``, ``y``, ``width``, ``height``, ``boxes``
        in patch pixels, ``labels``, ``difficult``), ``skipped`` (counts)
        and ``examples``; or ``None`` entries when the image is skipped.
    """
    import cv2
    handler = BadInputHandler(on_bad_input, source='dota_split')
    result = dict(file_name=None, skipped={}, examples=[], patches=[])
    if not osp.isfile(img_path):
        handler.report('missing image file', img_path, None,
                       f'referenced by {label_path}' if label_path else '')
        result.update(skipped=dict(handler.counts), examples=handler.examples)
        return result
    if label_path is not None:
        n_bad = handler.total
        labels = read_dota_labels(label_path, classes, handler, allow_empty)
        if labels['empty'] and not allow_empty and handler.total > n_bad:
            result.update(skipped=dict(handler.counts),
                          examples=handler.examples)
            return result
    else:
        labels = dict(polys=np.zeros((0, 8)), labels=np.zeros(0, np.int64),
                      difficult=np.zeros(0, bool))
    img = cv2.imread(img_path, cv2.IMREAD_COLOR)
    if img is None:
        handler.report('unreadable image', img_path, None,
                       'OpenCV could not decode it')
        result.update(skipped=dict(handler.counts), examples=handler.examples)
        return result
    height, width = img.shape[:2]
    polys = labels['polys']
    full = polygons_to_hbb(polys)
    full[:, 0::2] = full[:, 0::2].clip(0, width)
    full[:, 1::2] = full[:, 1::2].clip(0, height)
    windows = compute_windows(width, height, size, gap, img_rate_thr)
    obj_idx, win_idx, boxes = assign_objects(polys, windows, width, height,
                                             iof_thr)
    stem = osp.splitext(osp.basename(img_path))[0]
    ext = osp.splitext(img_path)[1].lower()
    params = png_write_params(png_compression) if ext == '.png' else []
    order = np.argsort(win_idx, kind='stable')
    obj_idx, win_idx, boxes = obj_idx[order], win_idx[order], boxes[order]
    bounds = np.searchsorted(win_idx, np.arange(len(windows) + 1))
    # cv2.imwrite releases the GIL: encode the patches on all cores
    writer = ThreadPoolExecutor(max_workers=os.cpu_count() or 1) \
        if write_images else None
    writes = []
    for w, (x1, y1, x2, y2) in enumerate(windows.tolist()):
        sel = slice(bounds[w], bounds[w + 1])
        name = patch_name(stem, size, x1, y1) + ext
        crop = img[y1:min(y2, height), x1:min(x2, width)]
        if crop.shape[0] != size or crop.shape[1] != size:
            padded = np.empty((size, size, 3), dtype=img.dtype)
            padded[...] = PAD_VALUE_BGR
            padded[:crop.shape[0], :crop.shape[1]] = crop
            crop = padded
        if writer is not None:
            writes.append(writer.submit(
                _write_patch, osp.join(out_img_dir, name), crop, params))
        pb = boxes[sel] - np.array([x1, y1, x1, y1], dtype=np.float64)
        oi = obj_idx[sel]
        result['patches'].append(
            dict(file_name=name, x=x1, y=y1, width=size, height=size,
                 boxes=pb, labels=labels['labels'][oi],
                 difficult=labels['difficult'][oi], obj_idx=oi))
    if writer is not None:
        for job in writes:
            job.result()  # re-raises a failed write
        writer.shutdown()
    result.update(file_name=osp.basename(img_path), width=width,
                  height=height,
                  full=dict(boxes=full, labels=labels['labels'],
                            difficult=labels['difficult']),
                  skipped=dict(handler.counts), examples=handler.examples)
    return result


def _worker(kwargs: dict) -> Dict:
    t0 = time.perf_counter()
    out = split_one_image(**kwargs)
    out['seconds'] = time.perf_counter() - t0
    return out


def _to_coco_anns(boxes: np.ndarray, labels: np.ndarray,
                  difficult: np.ndarray, image_id: int, start_id: int,
                  min_size: float = 1.0) -> Tuple[List[dict], int]:
    anns, dropped = [], 0
    for box, label, diff in zip(boxes.tolist(), labels.tolist(),
                                difficult.tolist()):
        w, h = box[2] - box[0], box[3] - box[1]
        if w < min_size or h < min_size:
            dropped += 1
            continue
        anns.append(dict(id=start_id + len(anns), image_id=image_id,
                         category_id=int(label) + 1,
                         bbox=[box[0], box[1], w, h], area=w * h,
                         iscrowd=int(diff)))
    return anns, dropped


def _write_patch(path: str, crop: np.ndarray, params: list) -> None:
    import cv2
    if not cv2.imwrite(path, crop, params):
        raise OSError(f'could not write patch {path}')


def split_dota(src_dir: str,
               out_root: str,
               split: str,
               img_subdir: str = 'images',
               ann_subdir: Optional[str] = 'labelTxt',
               version: str = 'v1.0',
               size: int = 1024,
               gap: int = 200,
               iof_thr: float = 0.7,
               img_rate_thr: float = 0.6,
               on_bad_input: str = 'raise',
               allow_empty: bool = False,
               nproc: int = 1,
               png_compression: Optional[int] = None,
               overwrite: bool = False,
               verbose: bool = True) -> Dict:
    """Split a DOTA split folder into patches + COCO json.

    Inputs: ``<src_dir>/<img_subdir>/*.png`` and
    ``<src_dir>/<ann_subdir>/*.txt`` (``ann_subdir=None``: no labels, e.g.
    the test set). Outputs (never inside the input folders):
    ``<out_root>/<split>/images/<stem>__<size>__<x>___<y>.png``,
    ``<out_root>/annotations/<split>.json`` (patches; image entries carry
    ``ori_file_name``, ``x_start``, ``y_start``, ``ori_width``,
    ``ori_height``) and ``<out_root>/annotations/<split>_full.json`` (full
    images, boxes = polygon bounding boxes clipped to the image).
    Categories are ids 1..C in class order; difficult -> ``iscrowd=1``.

    Returns:
        dict: statistics (images, patches, objects, patch_objects,
        dropped_small, skipped, seconds, images_per_second).
    """
    t0 = time.perf_counter()
    classes = {'v1.0': DOTA_V10_CLASSES, 'v1.5': DOTA_V15_CLASSES}.get(version)
    if classes is None:
        raise ValueError(f"version must be 'v1.0' or 'v1.5', got {version!r}")
    check_disjoint(src_dir, out_root, 'src', 'out')
    img_dir = osp.join(src_dir, img_subdir)
    ann_dir = osp.join(src_dir, ann_subdir) if ann_subdir else None
    for folder in (img_dir, ann_dir):
        if folder and not osp.isdir(folder):
            raise FileNotFoundError(
                f'{folder} does not exist (expected DOTA layout '
                f'<src>/{img_subdir}/*.png and <src>/{ann_subdir}/*.txt).')
    inputs = [d for d in (img_dir, ann_dir) if d]
    out_img_dir = osp.join(out_root, split, 'images')
    ann_out = osp.join(out_root, 'annotations', f'{split}.json')
    full_out = osp.join(out_root, 'annotations', f'{split}_full.json')
    check_output_path(out_img_dir, inputs, overwrite, is_dir=True)
    check_output_path(ann_out, inputs, overwrite)
    check_output_path(full_out, inputs, overwrite)
    os.makedirs(out_img_dir, exist_ok=True)

    images = {osp.splitext(n)[0]: n for n in os.listdir(img_dir)
              if osp.splitext(n)[1].lower() in IMAGE_EXTS}
    labels = {osp.splitext(n)[0]: n for n in os.listdir(ann_dir)
              if n.endswith('.txt')} if ann_dir else {}
    stems = sorted(set(images) | set(labels))
    handler = BadInputHandler(on_bad_input, source='dota_split')
    jobs = []
    for stem in stems:
        if ann_dir and stem not in labels:
            handler.report('missing annotation file',
                           osp.join(ann_dir, f'{stem}.txt'), None,
                           f'image {images[stem]} has no label file')
            continue
        jobs.append(dict(
            img_path=osp.join(img_dir, images.get(stem, f'{stem}.png')),
            label_path=osp.join(ann_dir, labels[stem]) if ann_dir else None,
            out_img_dir=out_img_dir, classes=classes, size=size, gap=gap,
            iof_thr=iof_thr, img_rate_thr=img_rate_thr,
            on_bad_input=on_bad_input, allow_empty=allow_empty,
            png_compression=png_compression))
    if nproc > 1:
        with Pool(nproc) as pool:
            results = list(_progress(pool.imap(_worker, jobs), len(jobs),
                                     verbose))
    else:
        results = list(_progress(map(_worker, jobs), len(jobs), verbose))

    categories = [dict(id=i + 1, name=c) for i, c in enumerate(classes)]
    patch_images, patch_anns, full_images, full_anns = [], [], [], []
    stats = dict(images=0, patches=0, objects=0, patch_objects=0,
                 dropped_small=0)
    for res in results:
        for kind, count in res['skipped'].items():
            handler.counts[kind] += count
        handler.examples.extend(
            res['examples'][:max(0, handler.max_examples -
                                 len(handler.examples))])
        if res['file_name'] is None:
            continue
        full_id = len(full_images) + 1
        full_images.append(dict(id=full_id, file_name=res['file_name'],
                                width=res['width'], height=res['height']))
        anns, dropped = _to_coco_anns(res['full']['boxes'],
                                      res['full']['labels'],
                                      res['full']['difficult'], full_id,
                                      len(full_anns) + 1)
        full_anns += anns
        stats['objects'] += len(anns)
        stats['dropped_small'] += dropped
        for p in res['patches']:
            pid = len(patch_images) + 1
            patch_images.append(dict(
                id=pid, file_name=p['file_name'], width=p['width'],
                height=p['height'], ori_file_name=res['file_name'],
                x_start=p['x'], y_start=p['y'], ori_width=res['width'],
                ori_height=res['height']))
            anns, dropped = _to_coco_anns(p['boxes'], p['labels'],
                                          p['difficult'], pid,
                                          len(patch_anns) + 1)
            patch_anns += anns
            stats['patch_objects'] += len(anns)
            stats['dropped_small'] += dropped
    info = dict(description=f'DOTA {version} HBB split by mmkd_dense '
                f'dota_split.py (size {size}, gap {gap}, iof {iof_thr})',
                source=osp.abspath(src_dir), size=size, gap=gap,
                iof_thr=iof_thr, version=version)
    write_json_atomic(dict(info=info, images=patch_images,
                           annotations=patch_anns, categories=categories),
                      ann_out)
    write_json_atomic(dict(info=info, images=full_images,
                           annotations=full_anns, categories=categories),
                      full_out)
    handler.log()
    elapsed = time.perf_counter() - t0
    stats.update(images=len(full_images), patches=len(patch_images),
                 skipped=dict(handler.counts),
                 skipped_summary=handler.summary(), seconds=elapsed,
                 images_per_second=len(full_images) / max(elapsed, 1e-9),
                 ann_file=ann_out, full_ann_file=full_out)
    if verbose:
        print(f'dota_split: {stats["images"]} images -> {stats["patches"]} '
              f'patches, {stats["patch_objects"]} patch objects '
              f'({stats["objects"]} full-image objects) in {elapsed:.2f} s; '
              f'wrote {ann_out} and {full_out}', flush=True)
        if stats['dropped_small']:
            print(f'dota_split: {stats["dropped_small"]} boxes narrower or '
                  'lower than 1 px after clipping were not written',
                  flush=True)
        if handler.total:
            print(handler.summary(), flush=True)
    return stats


def _progress(iterable, total: int, verbose: bool):
    for i, res in enumerate(iterable, start=1):
        if verbose:
            name = res['file_name'] or '(skipped)'
            print(f'[{i}/{total}] {name}: {len(res["patches"])} patches, '
                  f'{sum(len(p["boxes"]) for p in res["patches"])} objects '
                  f'({res["seconds"]:.2f} s)', flush=True)
        yield res
