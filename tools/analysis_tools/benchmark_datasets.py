# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Throughput of the dataset converters on generated data.

    python tools/analysis_tools/benchmark_datasets.py [--repeats 3]
        [--visdrone-images 200] [--uavdt-frames 4000] [--out results.json]

* DOTA split: one generated 4000x4000 PNG with 500 objects (rotated
  quadrilaterals, 8-150 px) -> 25 patches of 1024 (gap 200), single
  process; reports the median over repeats, with the read / assign / write
  breakdown.
* VisDrone conversion: N generated 1360x765 JPEGs with 60 lines each
  (including ignored regions and "others") -> COCO json.
* UAVDT conversion (uavdt2coco): 50 generated sequences of N/50 frames,
  20 ``*_gt_whole.txt`` lines + 1 ignore region per frame -> COCO json; the
  converter reads one frame size per sequence, so only the first frame of
  each sequence is a real 1080x540 JPEG (the others are empty files).
Nothing here is downloaded; everything is written to a temporary folder.
"""
import argparse
import json
import os
import os.path as osp
import statistics
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))


def _smooth_image(width, height, seed):
    import cv2
    rng = np.random.RandomState(seed)
    small = (rng.rand(height // 32, width // 32, 3) * 255).astype(np.uint8)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)


def make_dota_image(folder, size=4000, num_objects=500, seed=0):
    """Write images/P9999.png and labelTxt/P9999.txt; return their paths."""
    import cv2

    from mmkd_dense.datasets import DOTA_V10_CLASSES
    rng = np.random.RandomState(seed)
    os.makedirs(osp.join(folder, 'images'), exist_ok=True)
    os.makedirs(osp.join(folder, 'labelTxt'), exist_ok=True)
    img = _smooth_image(size, size, seed)
    lines = ['imagesource:GoogleEarth', 'gsd:0.146343590398']
    for _ in range(num_objects):
        w, h = rng.uniform(8, 150, 2)
        cx, cy = rng.uniform(0, size, 2)
        a = rng.uniform(0, np.pi)
        c, s = np.cos(a), np.sin(a)
        corners = np.array([[-w, -h], [w, -h], [w, h], [-w, h]]) / 2
        pts = corners @ np.array([[c, s], [-s, c]]) + [cx, cy]
        cv2.fillPoly(img, [pts.astype(np.int32)],
                     [int(v) for v in rng.randint(0, 255, 3)])
        name = DOTA_V10_CLASSES[rng.randint(len(DOTA_V10_CLASSES))]
        lines.append(' '.join(f'{v:.1f}' for v in pts.ravel()) +
                     f' {name} {int(rng.rand() < 0.1)}')
    img_path = osp.join(folder, 'images', 'P9999.png')
    cv2.imwrite(img_path, img)
    label_path = osp.join(folder, 'labelTxt', 'P9999.txt')
    with open(label_path, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    return img_path, label_path


def bench_dota(tmp, repeats):
    import cv2

    from mmkd_dense.datasets import DOTA_V10_CLASSES, read_dota_labels
    from mmkd_dense.datasets.converters.dota_split import (assign_objects,
                                                           compute_windows,
                                                           split_one_image)
    img_path, label_path = make_dota_image(osp.join(tmp, 'dota'))
    totals, cpus, parts = [], [], []
    for r in range(repeats):
        out_dir = osp.join(tmp, f'dota_out{r}')
        os.makedirs(out_dir)
        t0, c0 = time.perf_counter(), time.process_time()
        res = split_one_image(img_path, label_path, out_dir,
                              DOTA_V10_CLASSES, 1024, 200, 0.7, 0.6,
                              'raise', False)
        totals.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
        # breakdown (separate pass)
        t = time.perf_counter()
        img = cv2.imread(img_path, cv2.IMREAD_COLOR)
        t_read = time.perf_counter() - t
        t = time.perf_counter()
        lab = read_dota_labels(label_path, DOTA_V10_CLASSES)
        wins = compute_windows(img.shape[1], img.shape[0])
        assign_objects(lab['polys'], wins, img.shape[1], img.shape[0], 0.7)
        t_assign = time.perf_counter() - t
        parts.append((t_read, t_assign))
    return dict(
        seconds_median=statistics.median(totals), seconds_all=totals,
        # single-threaded: CPU time = wall time on an otherwise idle core
        cpu_seconds_median=statistics.median(cpus),
        patch_bytes=int(sum(
            os.path.getsize(osp.join(out_dir, p['file_name']))
            for p in res['patches'])),
        read_seconds=statistics.median(p[0] for p in parts),
        parse_and_assign_seconds=statistics.median(p[1] for p in parts),
        patches=len(res['patches']),
        patch_objects=int(sum(len(p['boxes']) for p in res['patches'])))


def bench_visdrone(tmp, num_images, lines_per_image=60):
    import cv2

    from mmkd_dense.datasets.converters.visdrone import \
        convert_visdrone_split
    rng = np.random.RandomState(0)
    split = osp.join(tmp, 'VisDrone2019-DET-train')
    os.makedirs(osp.join(split, 'images'))
    os.makedirs(osp.join(split, 'annotations'))
    base = _smooth_image(1360, 765, 0)
    for i in range(num_images):
        name = f'{i:07d}_00000_d_0000001'
        cv2.imwrite(osp.join(split, 'images', f'{name}.jpg'), base)
        rows = []
        for _ in range(lines_per_image):
            cat = int(rng.choice(12, p=[.04, .2, .1, .05, .3, .08, .05, .04,
                                        .03, .03, .06, .02]))
            w, h = rng.randint(4, 120, 2)
            x, y = rng.randint(0, 1300), rng.randint(0, 700)
            score = 0 if cat == 0 else 1
            rows.append(f'{x},{y},{w},{h},{score},{cat},0,0')
        with open(osp.join(split, 'annotations', f'{name}.txt'), 'w') as f:
            f.write('\n'.join(rows) + '\n')
    t0, c0 = time.perf_counter(), time.process_time()
    stats = convert_visdrone_split(split, osp.join(tmp, 'visdrone.json'),
                                   progress_every=None)
    secs = time.perf_counter() - t0
    return dict(images=num_images, lines=num_images * lines_per_image,
                seconds=secs, cpu_seconds=time.process_time() - c0,
                images_per_second=num_images / secs,
                lines_per_second=num_images * lines_per_image / secs,
                ignore_regions=stats['ignore_regions'])


def bench_uavdt(tmp, num_frames, repeats, num_seqs=50, objects=20):
    import cv2

    from mmkd_dense.datasets.converters.uavdt import convert_uavdt_split
    rng = np.random.RandomState(0)
    root = osp.join(tmp, 'UAVDT')
    gt_dir = osp.join(root, 'UAV-benchmark-MOTD_v1.0', 'GT')
    os.makedirs(gt_dir)
    frames = max(num_frames // num_seqs, 1)
    base = _smooth_image(1080, 540, 0)
    seqs = [f'M{9000 + s:04d}' for s in range(num_seqs)]
    for seq in seqs:
        seq_dir = osp.join(root, 'UAV-benchmark-M', seq)
        os.makedirs(seq_dir)
        cv2.imwrite(osp.join(seq_dir, 'img000001.jpg'), base)
        for f in range(2, frames + 1):
            open(osp.join(seq_dir, f'img{f:06d}.jpg'), 'wb').close()
        whole, ignore = [], []
        for f in range(1, frames + 1):
            x, y = rng.randint(0, 1000, objects), rng.randint(0, 500, objects)
            w, h = rng.randint(8, 80, objects), rng.randint(8, 40, objects)
            whole += [f'{f},{t + 1},{x[t]},{y[t]},{w[t]},{h[t]},1,'
                      f'{1 + t % 4},{1 + t % 3}' for t in range(objects)]
            ignore.append(f'{f},-1,900,0,180,60,-1,-1,-1')
        with open(osp.join(gt_dir, f'{seq}_gt_whole.txt'), 'w') as fh:
            fh.write('\n'.join(whole) + '\n')
        with open(osp.join(gt_dir, f'{seq}_gt_ignore.txt'), 'w') as fh:
            fh.write('\n'.join(ignore) + '\n')
    walls, cpus = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        stats = convert_uavdt_split(root, osp.join(tmp, 'uavdt.json'), seqs,
                                    overwrite=True, progress=False)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    wall = statistics.median(walls)
    lines = stats['objects'] + stats['ignore_regions']
    return dict(frames=stats['images'], lines=lines, seconds=wall,
                cpu_seconds=statistics.median(cpus),
                frames_per_second=stats['images'] / wall,
                lines_per_second=lines / wall)


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--repeats', type=int, default=3)
    p.add_argument('--visdrone-images', type=int, default=200)
    p.add_argument('--uavdt-frames', type=int, default=4000)
    p.add_argument('--out', help='write the results as json')
    args = p.parse_args()
    import mmkd_dense  # noqa: F401
    with tempfile.TemporaryDirectory() as tmp:
        res = dict(dota_split_4000px_500obj=bench_dota(tmp, args.repeats),
                   visdrone2coco=bench_visdrone(tmp, args.visdrone_images),
                   uavdt2coco=bench_uavdt(tmp, args.uavdt_frames,
                                          args.repeats),
                   cpu_count=os.cpu_count())
    print(json.dumps(res, indent=2))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(res, f, indent=2)


if __name__ == '__main__':
    main()
