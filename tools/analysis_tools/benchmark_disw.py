# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Build time of the DS2D2 DISW map: vectorised vs a plain per-box loop.

Both implementations get the same boxes (``--boxes-per-image`` random GT
boxes per image, ``--batch-size`` images) and build one DISW map per FPN
level (the map lives on the Haar low band, i.e. ``ceil(H_l / 2) x
ceil(W_l / 2)`` of a level of stride ``s``: ``H_l = ceil(H_in / s)``).
Reports the median (and min / mean) time of each over ``--repeat`` runs
(after ``--warmup``), the speed-up of the medians, whether the maps are
identical (``torch.equal``) and the largest absolute difference. Run it with
``--threads 1`` on a shared machine: tiny ops in a 2-thread OpenMP pool stall
when another process holds a core.

Example::

    python tools/analysis_tools/benchmark_disw.py \
        --boxes-per-image 100 --batch-size 2 --input-size 800 800 \
        --strides 8 16 32 64 128
"""
import argparse
import json
import math
import os
import os.path as osp
import sys
import time
from typing import Dict, List, Sequence, Tuple

import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))

from mmkd_dense.models.utils.disw import disw_map_loop, disw_maps  # noqa

__all__ = ['random_boxes', 'level_map_sizes', 'benchmark', 'main']


def random_boxes(num_images: int, boxes_per_image: int,
                 input_size: Tuple[int, int], seed: int = 0,
                 device: str = 'cpu') -> Tuple[torch.Tensor, torch.Tensor]:
    """Random xyxy boxes (sizes from 4 px to 1/3 of the image, like the
    small and dense objects of DIOR / DOTA) and their image index."""
    gen = torch.Generator().manual_seed(seed)
    h, w = input_size
    num = num_images * boxes_per_image
    wh = 4 + torch.rand(num, 2, generator=gen)**2 * torch.tensor(
        [w / 3, h / 3])
    xy = torch.rand(num, 2, generator=gen) * (torch.tensor([w, h]) - wh)
    boxes = torch.cat([xy, xy + wh], dim=1)
    index = torch.arange(num_images).repeat_interleave(boxes_per_image)
    return boxes.to(device), index.to(device)


def level_map_sizes(input_size: Tuple[int, int],
                    strides: Sequence[int]) -> List[Tuple[int, int]]:
    """DISW map size (Haar low band) of each FPN level."""
    sizes = []
    for stride in strides:
        h = math.ceil(input_size[0] / stride)
        w = math.ceil(input_size[1] / stride)
        sizes.append(((h + 1) // 2, (w + 1) // 2))
    return sizes


def _median(values: List[float]) -> float:
    ordered = sorted(values)
    n = len(ordered)
    return ordered[n // 2] if n % 2 else 0.5 * (ordered[n // 2 - 1] +
                                                ordered[n // 2])


def _time(fn, repeat: int, warmup: int, device: str) -> List[float]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        if device.startswith('cuda'):
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.startswith('cuda'):
            torch.cuda.synchronize()
        times.append((time.perf_counter() - start) * 1000)
    return times


def benchmark(boxes_per_image: int = 100,
              batch_size: int = 2,
              input_size: Tuple[int, int] = (800, 800),
              strides: Sequence[int] = (8, 16, 32, 64, 128),
              repeat: int = 20,
              warmup: int = 3,
              device: str = 'cpu',
              seed: int = 0) -> Dict:
    """Time both implementations on the same boxes; check equality."""
    boxes, index = random_boxes(batch_size, boxes_per_image, input_size,
                                seed, device)
    sizes = level_map_sizes(input_size, strides)

    def vectorised():  # all levels in one call, as DS2D2ExplicitLoss does
        return disw_maps(boxes, index, batch_size, input_size, sizes)

    def loop():
        return [disw_map_loop(boxes, index, batch_size, input_size, hw)
                for hw in sizes]

    maps_v, maps_l = vectorised(), loop()
    identical = all(torch.equal(a, b) for a, b in zip(maps_v, maps_l))
    max_diff = max(float((a - b).abs().max()) for a, b in zip(maps_v, maps_l))
    t_vec = _time(vectorised, repeat, warmup, device)
    t_loop = _time(loop, max(3, repeat // 4), min(warmup, 1), device)
    mean_vec = sum(t_vec) / len(t_vec)
    mean_loop = sum(t_loop) / len(t_loop)
    med_vec, med_loop = _median(t_vec), _median(t_loop)
    return dict(
        boxes_per_image=boxes_per_image, batch_size=batch_size,
        num_boxes=int(boxes.shape[0]), input_size=list(input_size),
        strides=list(strides), map_sizes=[list(s) for s in sizes],
        device=device, torch_threads=torch.get_num_threads(),
        vectorised_ms=med_vec, vectorised_ms_mean=mean_vec,
        vectorised_ms_min=min(t_vec), loop_ms=med_loop,
        loop_ms_mean=mean_loop, loop_ms_min=min(t_loop),
        speedup=med_loop / med_vec, speedup_min=min(t_loop) / min(t_vec),
        identical=identical,
        max_abs_diff=max_diff)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--boxes-per-image', type=int, default=100)
    parser.add_argument('--batch-size', type=int, default=2)
    parser.add_argument('--input-size', type=int, nargs=2,
                        default=[800, 800], metavar=('H', 'W'))
    parser.add_argument('--strides', type=int, nargs='+',
                        default=[8, 16, 32, 64, 128])
    parser.add_argument('--repeat', type=int, default=20)
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--threads', type=int, default=0,
                        help='torch.set_num_threads (0: leave as is)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--target', type=float, default=50.0,
                        help='speed-up target reported as pass / fail')
    parser.add_argument('--out', default='',
                        help='write the result as JSON to this file')
    return parser.parse_args(argv)


def main(argv=None) -> Dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    result = benchmark(args.boxes_per_image, args.batch_size,
                       tuple(args.input_size), args.strides, args.repeat,
                       args.warmup, args.device, args.seed)
    result['target_speedup'] = args.target
    result['meets_target'] = bool(result['speedup'] >= args.target
                                  and result['identical'])
    print(f"DISW, {result['num_boxes']} boxes ({args.boxes_per_image}/image "
          f"x {args.batch_size}), {len(args.strides)} levels "
          f"{result['map_sizes']}, device {args.device}, "
          f"{result['torch_threads']} threads")
    print(f"  loop        {result['loop_ms']:9.3f} ms median "
          f"(min {result['loop_ms_min']:.3f}, mean "
          f"{result['loop_ms_mean']:.3f})")
    print(f"  vectorised  {result['vectorised_ms']:9.3f} ms median "
          f"(min {result['vectorised_ms_min']:.3f}, mean "
          f"{result['vectorised_ms_mean']:.3f})")
    print(f"  speed-up    {result['speedup']:9.1f}x median, "
          f"{result['speedup_min']:.1f}x best-of  (target >= "
          f"{args.target:g}x: "
          f"{'met' if result['meets_target'] else 'NOT met'})")
    print(f"  identical   {result['identical']} (max |diff| "
          f"{result['max_abs_diff']:.3g})")
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump(result, f, indent=2)
    return result


if __name__ == '__main__':
    main()
