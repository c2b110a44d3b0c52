# Copyright (c) mmkd_dense contributors. All rights reserved.
"""UAVDT (UAV-benchmark-M, DET task) -> COCO json
(``tools/dataset_converters/uavdt2coco.py``).

Official layout (Du et al., ECCV 2018; the devkit README of
``UAV-benchmark-MOTD_v1.0``)::

    <root>/UAV-benchmark-M/M0101/img000001.jpg ...       frames, 1-based
    <root>/UAV-benchmark-MOTD_v1.0/GT/M0101_gt_whole.txt  DET ground truth
    <root>/UAV-benchmark-MOTD_v1.0/GT/M0101_gt_ignore.txt ignore regions
    <root>/UAV-benchmark-MOTD_v1.0/GT/M0101_gt.txt        MOT ground truth
    <root>/M_attr/{train,test}/M0101_attr.txt             split (optional)

``*_gt_whole.txt`` and ``*_gt_ignore.txt`` lines are
``frame_index,target_id,bbox_left,bbox_top,bbox_width,bbox_height,
out-of-view,occlusion,object_category`` with ``object_category`` 1 car,
2 truck, 3 bus, ``out-of-view`` 1..3 and ``occlusion`` 1..4. In the ignore
file only the frame and the box are meaningful (the other fields are
placeholders such as -1 and are not interpreted). ``*_gt.txt`` (MOT) is not
used.
"""
import math
import os
import os.path as osp
import re
import time
from collections import defaultdict
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from ..bad_input_handler import BadInputHandler
from ._io import check_output_path, write_json_atomic

__all__ = [
    'UAVDT_CLASSES', 'UAVDT_TRAIN_SEQUENCES', 'UAVDT_TEST_SEQUENCES',
    'UAVDT_NUM_FIELDS', 'read_uavdt_gt', 'read_uavdt_ignore',
    'list_uavdt_frames', 'resolve_uavdt_sequences', 'find_uavdt_dirs',
    'convert_uavdt_split'
]

#: object_category 1..3 (label = category - 1).
UAVDT_CLASSES: Tuple[str, ...] = ('car', 'truck', 'bus')

#: The common DET/MOT split: 30 training sequences (``M_attr/train``) ...
UAVDT_TRAIN_SEQUENCES: Tuple[str, ...] = (
    'M0101', 'M0201', 'M0202', 'M0204', 'M0206', 'M0207', 'M0210', 'M0301',
    'M0401', 'M0402', 'M0501', 'M0603', 'M0604', 'M0605', 'M0702', 'M0703',
    'M0704', 'M0901', 'M0902', 'M1002', 'M1003', 'M1005', 'M1006', 'M1008',
    'M1102', 'M1201', 'M1202', 'M1304', 'M1305', 'M1306')

#: ... and 20 test sequences (``M_attr/test``).
UAVDT_TEST_SEQUENCES: Tuple[str, ...] = (
    'M0203', 'M0205', 'M0208', 'M0209', 'M0403', 'M0601', 'M0602', 'M0606',
    'M0701', 'M0801', 'M0802', 'M1001', 'M1004', 'M1007', 'M1009', 'M1101',
    'M1301', 'M1302', 'M1303', 'M1401')

#: frame, target_id, left, top, width, height, out-of-view, occlusion,
#: category
UAVDT_NUM_FIELDS = 9
_FIELDS_DOC = ('"frame_index,target_id,bbox_left,bbox_top,bbox_width,'
               'bbox_height,out-of-view,occlusion,object_category"')
_FRAME_RE = re.compile(r'^img(\d+)\.(?:jpg|jpeg|png)$', re.IGNORECASE)


def _parse_lines(path: str, handler: BadInputHandler,
                 check_category: bool) -> Tuple[List[List[float]], List[int]]:
    """Shared line parser: field count, numbers, frame >= 1, size > 0,
    category 1..3 (``check_category``)."""
    rows, lines = [], []
    with open(path) as f:
        raw_lines = f.read().splitlines()
    for lineno, raw in enumerate(raw_lines, start=1):
        line = raw.strip()
        if not line:
            continue
        fields = line.split(',')
        if len(fields) == UAVDT_NUM_FIELDS + 1 and not fields[-1].strip():
            fields = fields[:-1]  # trailing comma
        if len(fields) != UAVDT_NUM_FIELDS:
            handler.report(
                'wrong field count', path, lineno,
                f'expected {UAVDT_NUM_FIELDS} comma-separated fields '
                f'{_FIELDS_DOC}, found {len(fields)}: {line!r}')
            continue
        try:
            values = [float(v) for v in fields]
        except ValueError:
            handler.report('malformed value', path, lineno,
                           f'non-numeric field in {line!r}')
            continue
        if not all(map(math.isfinite, values)):
            handler.report('malformed value', path, lineno,
                           f'non-finite field in {line!r}')
            continue
        frame = values[0]
        if frame < 1 or frame != int(frame):
            handler.report('malformed value', path, lineno,
                           f'frame_index must be an integer >= 1, found '
                           f'{fields[0].strip()!r}')
            continue
        if values[4] <= 0 or values[5] <= 0:
            handler.report('negative size', path, lineno,
                           f'bbox_width {fields[4].strip()} / bbox_height '
                           f'{fields[5].strip()} must be positive')
            continue
        if check_category and values[8] not in (1, 2, 3):
            handler.report('unknown class', path, lineno,
                           f'object_category {fields[8].strip()} is not '
                           '1 (car), 2 (truck) or 3 (bus)')
            continue
        rows.append(values)
        lines.append(lineno)
    return rows, lines


def read_uavdt_gt(path: str,
                  handler: Optional[BadInputHandler] = None) -> Dict:
    """Read one ``M####_gt_whole.txt`` (DET ground truth).

    Args:
        path (str): the file.
        handler (BadInputHandler, optional): bad-input policy; default
            raises on the first problem (file and line in the message).

    Returns:
        dict: ``frames`` int64 (n,), ``target_ids`` int64 (n,), ``boxes``
        float64 (n, 4) as (left, top, width, height), ``out_of_view``,
        ``occlusion``, ``categories`` (1..3) int64 (n,), ``lines`` int64
        (n,) 1-based line numbers.
    """
    handler = handler or BadInputHandler('raise')
    rows, lines = _parse_lines(path, handler, check_category=True)
    arr = np.asarray(rows, dtype=np.float64).reshape(-1, UAVDT_NUM_FIELDS)
    ints = arr.astype(np.int64)
    return dict(frames=ints[:, 0], target_ids=ints[:, 1],
                boxes=arr[:, 2:6].copy(), out_of_view=ints[:, 6],
                occlusion=ints[:, 7], categories=ints[:, 8],
                lines=np.asarray(lines, dtype=np.int64))


def read_uavdt_ignore(path: str,
                      handler: Optional[BadInputHandler] = None) -> Dict:
    """Read one ``M####_gt_ignore.txt`` (class-agnostic ignore regions).

    Same 9-field lines as ``*_gt_whole.txt``; only the frame and the box
    are used (target id, out-of-view, occlusion and category are
    placeholders in the official files and are not checked).

    Returns:
        dict: ``frames`` int64 (n,), ``boxes`` float64 (n, 4) as (left,
        top, width, height), ``lines`` int64 (n,).
    """
    handler = handler or BadInputHandler('raise')
    rows, lines = _parse_lines(path, handler, check_category=False)
    arr = np.asarray(rows, dtype=np.float64).reshape(-1, UAVDT_NUM_FIELDS)
    return dict(frames=arr[:, 0].astype(np.int64), boxes=arr[:, 2:6].copy(),
                lines=np.asarray(lines, dtype=np.int64))


def list_uavdt_frames(seq_dir: str) -> Dict[int, str]:
    """Frame index -> file name of ``img######.jpg`` files in a sequence."""
    frames = {}
    for name in os.listdir(seq_dir):
        m = _FRAME_RE.match(name)
        if m:
            frames[int(m.group(1))] = name
    return frames


def resolve_uavdt_sequences(split: Optional[str] = None,
                            seq_list: Optional[str] = None,
                            img_dir: Optional[str] = None) -> List[str]:
    """The sequences of a split.

    Args:
        split (str, optional): ``'train'`` (the 30 common training
            sequences), ``'test'`` (the 20 DET test sequences) or ``'all'``
            (every ``M####`` folder in ``img_dir``).
        seq_list (str, optional): instead of ``split``: a text file with
            one sequence name per line (``#`` comments allowed), or a
            folder of ``M####_attr.txt`` files such as ``M_attr/train``.
        img_dir (str, optional): ``UAV-benchmark-M`` (for ``'all'``).

    Returns:
        list[str]: sorted, unique sequence names.
    """
    if seq_list is not None:
        if osp.isdir(seq_list):
            names = [n[:-len('_attr.txt')] for n in os.listdir(seq_list)
                     if n.endswith('_attr.txt')]
            if not names:
                raise ValueError(
                    f'{seq_list} has no M####_attr.txt file; pass a folder '
                    'such as M_attr/train or a text file of sequence names.')
        elif osp.isfile(seq_list):
            with open(seq_list) as f:
                names = [ln.split('#')[0].strip() for ln in f]
            names = [n for n in names if n]
            if not names:
                raise ValueError(f'{seq_list} lists no sequence name.')
        else:
            raise FileNotFoundError(
                f'seq_list {seq_list} does not exist (expected a text file '
                'of sequence names or an M_attr/<split> folder).')
        return sorted(set(names))
    if split == 'train':
        return list(UAVDT_TRAIN_SEQUENCES)
    if split == 'test':
        return list(UAVDT_TEST_SEQUENCES)
    if split == 'all':
        if img_dir is None or not osp.isdir(img_dir):
            raise FileNotFoundError(
                f"split='all' lists the folders of img_dir, but {img_dir} "
                'does not exist.')
        return sorted(n for n in os.listdir(img_dir)
                      if re.fullmatch(r'M\d{4}', n)
                      and osp.isdir(osp.join(img_dir, n)))
    raise ValueError(
        f"split must be 'train', 'test' or 'all' (or give seq_list), got "
        f'{split!r}')


def find_uavdt_dirs(root: str,
                    img_dir: Optional[str] = None,
                    gt_dir: Optional[str] = None) -> Tuple[str, str]:
    """Frame and GT folders of an extracted UAVDT root.

    Defaults: ``<root>/UAV-benchmark-M`` and
    ``<root>/UAV-benchmark-MOTD_v1.0/GT`` (or ``<root>/GT``).

    Raises:
        FileNotFoundError: a folder is missing; the message shows the
            expected layout.
    """
    img_dir = img_dir or osp.join(root, 'UAV-benchmark-M')
    if gt_dir is None:
        gt_dir = osp.join(root, 'UAV-benchmark-MOTD_v1.0', 'GT')
        if not osp.isdir(gt_dir) and osp.isdir(osp.join(root, 'GT')):
            gt_dir = osp.join(root, 'GT')
    layout = ('expected <root>/UAV-benchmark-M/M####/img######.jpg and '
              '<root>/UAV-benchmark-MOTD_v1.0/GT/M####_gt_whole.txt '
              '(docs/datasets.md), or pass img_dir/gt_dir '
              '(--img-dir/--gt-dir)')
    for name, folder in (('frame folder', img_dir), ('GT folder', gt_dir)):
        if not osp.isdir(folder):
            raise FileNotFoundError(f'UAVDT {name} {folder} does not exist: '
                                    f'{layout}.')
    return img_dir, gt_dir


def _frame_size(path: str) -> Tuple[int, int]:
    from PIL import Image
    with Image.open(path) as im:
        return im.size


def _check_box(box: Sequence[float], width: int, height: int, path: str,
               lineno: int, handler: BadInputHandler,
               stats: Dict) -> Optional[List[float]]:
    """Box inside the frame, clipped if it sticks out; ``None`` (after a
    report) if it does not overlap the frame at all."""
    x, y, w, h = box
    x2, y2 = x + w, y + h
    if x >= width or y >= height or x2 <= 0 or y2 <= 0:
        handler.report(
            'box outside frame', path, lineno,
            f'box [left {x:g}, top {y:g}, right {x2:g}, bottom {y2:g}] does '
            f'not overlap the {width}x{height} frame')
        return None
    cx1, cy1 = max(x, 0.), max(y, 0.)
    cx2, cy2 = min(x2, float(width)), min(y2, float(height))
    if (cx1, cy1, cx2, cy2) != (x, y, x2, y2):
        stats['clipped'] += 1
    return [cx1, cy1, cx2 - cx1, cy2 - cy1]


def convert_uavdt_split(root: str,
                        out_file: str,
                        sequences: Iterable[str],
                        img_dir: Optional[str] = None,
                        gt_dir: Optional[str] = None,
                        frame_step: int = 1,
                        on_bad_input: str = 'raise',
                        overwrite: bool = False,
                        progress: bool = True) -> Dict:
    """Convert the UAVDT sequences of one split to a COCO json.

    Mapping:

    * ``*_gt_whole.txt`` category 1/2/3 -> ``category_id`` 1/2/3 (car,
      truck, bus), ``iscrowd=0``; each keeps ``target_id``,
      ``out_of_view`` and ``occlusion``;
    * every ``*_gt_ignore.txt`` box -> a class-agnostic ignore region
      written as one ``iscrowd=1`` copy per class sharing an
      ``ignore_region_id`` (as ``visdrone2coco.py``), so pycocotools
      ignores detections of every class inside it and
      ``VisDroneDataset`` loads it as ignored instances;
    * image ``file_name`` = ``M####/img######.jpg`` relative to the frame
      folder, plus ``sequence`` and ``frame_id``; frames without any GT
      line are kept as images without objects.

    The frame size is read once per sequence (first kept frame; UAVDT
    frames of a sequence share one size; an unreadable first frame is bad
    input for the whole sequence). Boxes sticking out of the frame
    are clipped to it (counted as ``clipped``); boxes that do not overlap
    the frame, malformed lines, unknown categories and GT lines of frames
    without an image are bad input: they raise :class:`BadInputError`
    naming file and line, or are skipped and counted with
    ``on_bad_input='skip'``. A listed sequence without frame folder or
    ``*_gt_whole.txt`` is bad input too (skipped whole in skip mode). A
    missing ``*_gt_ignore.txt`` means no ignore region (counted). If no
    frame at all is left, nothing is written (``FileNotFoundError``).

    Args:
        root (str): extracted UAVDT root (used for the default folders).
        out_file (str): json to write (not inside the input folders).
        sequences (Iterable[str]): e.g. :data:`UAVDT_TRAIN_SEQUENCES`.
        img_dir (str, optional): ``UAV-benchmark-M`` folder.
        gt_dir (str, optional): folder of the ``M####_gt_*.txt`` files.
        frame_step (int): keep frames 1, 1 + k, 1 + 2k, ... (k >= 1).
        on_bad_input (str): ``'raise'`` or ``'skip'``.
        overwrite (bool): replace an existing ``out_file``.
        progress (bool): print one line per sequence.

    Returns:
        dict: statistics (sequences, images, objects, ignore_regions,
        clipped, no_ignore_file, skipped counts, seconds).
    """
    t0 = time.perf_counter()
    if int(frame_step) != frame_step or frame_step < 1:
        raise ValueError(f'frame_step must be an integer >= 1, got '
                         f'{frame_step!r}')
    frame_step = int(frame_step)
    img_dir, gt_dir = find_uavdt_dirs(root, img_dir, gt_dir)
    check_output_path(out_file, [img_dir, gt_dir], overwrite)
    handler = BadInputHandler(on_bad_input, source='uavdt2coco')
    sequences = list(sequences)
    num_classes = len(UAVDT_CLASSES)
    categories = [dict(id=i + 1, name=n, supercategory='vehicle')
                  for i, n in enumerate(UAVDT_CLASSES)]
    out_images, out_anns = [], []
    stats = dict(sequences=0, images=0, objects=0, ignore_regions=0,
                 clipped=0, no_ignore_file=[])
    region_id = 0
    for k, seq in enumerate(sequences, start=1):
        seq_dir = osp.join(img_dir, seq)
        gt_path = osp.join(gt_dir, f'{seq}_gt_whole.txt')
        ign_path = osp.join(gt_dir, f'{seq}_gt_ignore.txt')
        if not osp.isdir(seq_dir):
            handler.report('missing sequence folder', seq_dir, None,
                           f'sequence {seq} is listed but has no frame '
                           f'folder in {img_dir}')
            continue
        if not osp.isfile(gt_path):
            handler.report('missing annotation file', gt_path, None,
                           f'sequence {seq} has no {seq}_gt_whole.txt in '
                           f'{gt_dir}')
            continue
        frames = list_uavdt_frames(seq_dir)
        kept = sorted(f for f in frames if (f - 1) % frame_step == 0)
        if not kept:
            handler.report('missing image file', seq_dir, None,
                           f'no img######.jpg frame (with frame_step '
                           f'{frame_step}) in sequence {seq}')
            continue
        first = osp.join(seq_dir, frames[kept[0]])
        try:
            width, height = _frame_size(first)
        except (OSError, ValueError) as e:  # PIL: not an image / truncated
            handler.report('unreadable image', first, None,
                           f'cannot read the frame size of sequence {seq} '
                           f'({e}); the whole sequence is skipped')
            continue
        gt = read_uavdt_gt(gt_path, handler)
        if osp.isfile(ign_path):
            ign = read_uavdt_ignore(ign_path, handler)
        else:
            stats['no_ignore_file'].append(seq)
            ign = dict(frames=np.zeros(0, np.int64),
                       boxes=np.zeros((0, 4)), lines=np.zeros(0, np.int64))
        keep_set = set(kept)
        by_frame = defaultdict(list)
        for src, path, data in (('gt', gt_path, gt),
                                ('ignore', ign_path, ign)):
            for i, (frame, lineno) in enumerate(
                    zip(data['frames'].tolist(), data['lines'].tolist())):
                if (frame - 1) % frame_step:
                    continue
                if frame not in keep_set:
                    handler.report(
                        'missing image file', path, lineno,
                        f'frame {frame} has no img{frame:06d}.jpg in '
                        f'{seq_dir}')
                    continue
                box = _check_box(data['boxes'][i].tolist(), width, height,
                                 path, lineno, handler, stats)
                if box is not None:
                    by_frame[frame].append((src, i, box))
        for frame in kept:
            img_id = len(out_images) + 1
            out_images.append(dict(
                id=img_id, file_name=f'{seq}/{frames[frame]}', width=width,
                height=height, sequence=seq, frame_id=frame))
            for src, i, box in by_frame.get(frame, ()):
                base = dict(image_id=img_id, bbox=box,
                            area=float(box[2] * box[3]))
                if src == 'gt':
                    stats['objects'] += 1
                    out_anns.append(dict(
                        base, id=len(out_anns) + 1,
                        category_id=int(gt['categories'][i]), iscrowd=0,
                        target_id=int(gt['target_ids'][i]),
                        out_of_view=int(gt['out_of_view'][i]),
                        occlusion=int(gt['occlusion'][i])))
                else:
                    region_id += 1
                    stats['ignore_regions'] += 1
                    for c in range(1, num_classes + 1):
                        out_anns.append(dict(
                            base, id=len(out_anns) + 1, category_id=c,
                            iscrowd=1, ignore_region_id=region_id))
        stats['sequences'] += 1
        if progress:
            print(f'[{k}/{len(sequences)}] {seq}: {len(kept)} frames, '
                  f'{len(out_images)} images so far', flush=True)
    stats['images'] = len(out_images)
    if not out_images:
        raise FileNotFoundError(
            f'UAVDT: none of the {len(sequences)} listed sequences could be '
            f'converted ({handler.summary() or "no sequence given"}); check '
            f'{img_dir} and {gt_dir}. Nothing was written.')
    write_json_atomic(
        dict(info=dict(description='UAVDT (UAV-benchmark-M, DET) converted '
                       'by mmkd_dense uavdt2coco.py',
                       source=osp.abspath(root), frame_step=frame_step,
                       sequences=sequences),
             images=out_images, annotations=out_anns,
             categories=categories), out_file)
    handler.log()
    stats['skipped'] = dict(handler.counts)
    stats['skipped_summary'] = handler.summary()
    stats['seconds'] = time.perf_counter() - t0
    return stats
