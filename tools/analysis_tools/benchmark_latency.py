# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Inference latency of teacher, student and distilled student.

    python tools/analysis_tools/benchmark_latency.py \
        --teacher configs/demo/retinanet_r18c32_fpn_12e_digits.py \
        --student configs/demo/retinanet_r18c16_fpn_12e_digits.py \
        --distilled \
            configs/demo/fgd_fpn_retina-r18c32_retina-r18c16_12e_digits.py \
        --input-size 128 128 --runs 20 --warmup 3 --threads 2 \
        --out-md latency.md --out-json latency.json

Each model runs at batch 1 on a fixed ``(1, 3, H, W)`` input (the size after
resizing and padding): backbone, neck and dense head, i.e. the graph that
``tools/deployment/export_onnx.py`` exports (``mode='tensor'``; box decoding
and NMS, which run in mmdet after the graph, are not timed). Backends:
PyTorch eager on CPU and onnxruntime's CPU provider, plus PyTorch on CUDA
and onnxruntime's CUDA provider when available. Per backend: ``--warmup``
untimed runs, then the median and 90th percentile of ``--runs`` timed runs.
Parameters and FLOPs (multiply-adds, ``get_flops.py``'s convention) are
listed beside them.

``--teacher``/``--student`` take detector configs; ``--distilled`` takes a
distillation config and times its student (``model.architecture``; when no
``--teacher`` is given, its teacher is timed too). Weights are random:
latency does not depend on them. Two-stage detectors are timed in PyTorch
only (no ONNX export; see docs/deployment.md).
"""
import argparse
import json
import os
import os.path as osp
import sys
import tempfile
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from analysis_utils import (build_model, env_summary,  # noqa: E402
                            get_student, get_teacher, infer_num_classes,
                            is_distill_model, load_config, make_batch)

__all__ = ['time_fn', 'collect_models', 'benchmark', 'format_markdown',
           'main']


def time_fn(fn: Callable[[], object], runs: int, warmup: int,
            sync: Optional[Callable[[], None]] = None) -> Dict:
    """Median and 90th percentile of ``runs`` calls after ``warmup``.

    Returns:
        dict: ``median_ms``, ``p90_ms``, ``times_ms`` (all timed runs).
    """
    for _ in range(warmup):
        fn()
    if sync:
        sync()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        if sync:
            sync()
        times.append((time.perf_counter() - start) * 1e3)
    return dict(median_ms=float(np.median(times)),
                p90_ms=float(np.percentile(times, 90)),
                times_ms=[round(t, 3) for t in times])


def collect_models(teacher: Optional[str], students: Sequence[str],
                   distilled: Sequence[str]
                   ) -> List[Tuple[str, str, nn.Module]]:
    """``(role, config, detector)`` for every model to time (random
    weights, eval mode, CPU)."""
    entries = []
    if teacher:
        entries.append(('teacher', teacher, load_config(teacher)))
    for path in students:
        entries.append(('student', path, load_config(path)))
    models = []
    for role, path, cfg in entries:
        model = build_model(cfg)
        if is_distill_model(model):
            raise SystemExit(
                f'--{role} {path} is a distillation config; pass it with '
                '--distilled (its student is timed) or give the detector '
                'config.')
        models.append((role, path, model.eval()))
    for path in distilled:
        model = build_model(load_config(path))
        if not is_distill_model(model):
            raise SystemExit(
                f'--distilled {path} is not a distillation config (no '
                'model.architecture/teacher); pass it with --student.')
        if not teacher:
            models.insert(0, ('teacher', path + ' (teacher)',
                              get_teacher(model).eval()))
            teacher = path
        models.append(('distilled student', path,
                       get_student(model).eval()))
    return models


def _flops(detector: nn.Module, input_size: Tuple[int, int]) -> Optional[int]:
    from get_flops import detector_rows
    inputs, samples = make_batch(1, input_size, infer_num_classes(detector),
                                 'cpu', boxes_per_image=(1, ))
    with torch.no_grad():
        return detector_rows('model', detector, inputs, samples,
                             kept=True)[0]['flops']


def _backends(requested: Optional[Sequence[str]]) -> List[str]:
    available = ['torch-cpu', 'ort-cpu']
    if torch.cuda.is_available():
        available.append('torch-cuda')
    try:
        import onnxruntime as ort
        if 'CUDAExecutionProvider' in ort.get_available_providers():
            available.append('ort-cuda')
    except ImportError:
        available.remove('ort-cpu')
    if not requested:
        return available
    missing = [b for b in requested if b not in available]
    if missing:
        raise SystemExit(f'backend(s) {missing} not available here; '
                         f'available: {available}')
    return list(requested)


def benchmark(models: List[Tuple[str, str, nn.Module]],
              input_size: Tuple[int, int], runs: int, warmup: int,
              threads: int, backends: Sequence[str], with_flops: bool = True,
              work_dir: Optional[str] = None,
              log: Callable[[str], None] = print) -> List[Dict]:
    """Time every model on every backend.

    Returns:
        list[dict]: per model ``role``, ``config``, ``name`` (detector and
        head class), ``params``, ``flops`` (None if not counted) and, per
        backend, ``{median_ms, p90_ms, times_ms}`` or ``{error}``.
    """
    from mmkd_dense.deployment import (UnsupportedModelError,
                                       check_exportable, export_onnx,
                                       make_session)
    torch.set_num_threads(threads)
    height, width = input_size
    inputs = torch.randn(1, 3, height, width,
                         generator=torch.Generator().manual_seed(0))
    tmp = None
    if work_dir is None:
        tmp = tempfile.TemporaryDirectory()
        work_dir = tmp.name
    os.makedirs(work_dir, exist_ok=True)
    rows = []
    for index, (role, config, detector) in enumerate(models):
        head = getattr(detector, 'bbox_head', None) or getattr(
            detector, 'roi_head', None)
        row = dict(role=role, config=config,
                   name=f'{type(detector).__name__} / '
                   f'{type(head).__name__ if head is not None else "-"}',
                   params=sum(p.numel() for p in detector.parameters()),
                   flops=None)
        tag = f'[{index + 1}/{len(models)}] {role}: {osp.basename(config)}'
        if with_flops:
            log(f'{tag}: counting FLOPs')
            row['flops'] = _flops(detector, input_size)
        _, samples = make_batch(1, input_size, infer_num_classes(detector),
                                'cpu', boxes_per_image=(1, ))
        onnx_path = None
        for backend in backends:
            if backend.startswith('ort') and onnx_path is None:
                try:
                    check_exportable(detector)
                except UnsupportedModelError as err:
                    row[backend] = dict(error=str(err).split(':')[0])
                    log(f'{tag}: {backend} skipped ({row[backend]["error"]})')
                    continue
                onnx_path = osp.join(work_dir, f'model{index}.onnx')
                log(f'{tag}: exporting ONNX')
                export_onnx(detector, onnx_path, input_size)
            log(f'{tag}: {backend}, {warmup} warm-up + {runs} runs')
            if backend.startswith('torch'):
                device = 'cuda' if backend == 'torch-cuda' else 'cpu'
                net = detector.to(device)
                x = inputs.to(device)
                data_samples = [s.to(device) for s in samples]
                sync = torch.cuda.synchronize if device == 'cuda' else None

                def fn(net=net, x=x, data_samples=data_samples):
                    # the exported graph: backbone, neck, head, no NMS
                    with torch.inference_mode():
                        return net(x, data_samples, mode='tensor')

                row[backend] = time_fn(fn, runs, warmup, sync)
                detector.to('cpu')
            else:
                providers = ['CUDAExecutionProvider'] if \
                    backend == 'ort-cuda' else ['CPUExecutionProvider']
                session = make_session(onnx_path, providers, threads)
                feed = {session.get_inputs()[0].name: inputs.numpy()}
                row[backend] = time_fn(lambda: session.run(None, feed), runs,
                                       warmup)
            log(f'{tag}: {backend} median {row[backend]["median_ms"]:.1f} ms, '
                f'p90 {row[backend]["p90_ms"]:.1f} ms')
        rows.append(row)
    if tmp is not None:
        tmp.cleanup()
    return rows


def _cell(stats: Optional[Dict], key: str) -> str:
    if not stats:
        return '-'
    if 'error' in stats:
        return 'n/a'
    return f'{stats[key]:.1f}'


def format_markdown(rows: List[Dict], backends: Sequence[str],
                    input_size: Tuple[int, int]) -> str:
    """Markdown table; speed-up is the teacher's median over the row's
    (first row taken as the reference when no teacher is listed)."""
    ref = next((r for r in rows if r['role'] == 'teacher'), rows[0])
    header = ['model', 'role', 'params (M)',
              f'FLOPs (G) @{input_size[0]}x{input_size[1]}']
    for b in backends:
        header += [f'{b} median (ms)', f'{b} p90 (ms)', f'{b} speed-up']
    lines = ['| ' + ' | '.join(header) + ' |',
             '|' + '---|' * len(header)]
    for r in rows:
        cells = [f'`{osp.basename(r["config"])}`', r['role'],
                 f'{r["params"] / 1e6:.2f}',
                 '-' if r['flops'] is None else f'{r["flops"] / 1e9:.2f}']
        for b in backends:
            stats, ref_stats = r.get(b), ref.get(b)
            speed = '-'
            if stats and ref_stats and 'median_ms' in stats and \
                    'median_ms' in ref_stats:
                speed = f'{ref_stats["median_ms"] / stats["median_ms"]:.2f}x'
            cells += [_cell(stats, 'median_ms'), _cell(stats, 'p90_ms'),
                      speed]
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Batch-1 latency (PyTorch eager, onnxruntime) of '
        'teacher, student and distilled student, with params and FLOPs')
    parser.add_argument('--teacher', help='teacher detector config')
    parser.add_argument('--student', nargs='+', default=[],
                        help='student detector config(s) (no KD)')
    parser.add_argument('--distilled', nargs='+', default=[],
                        help='distillation config(s): their student')
    parser.add_argument('--input-size', nargs=2, type=int,
                        default=[800, 1344], metavar=('H', 'W'))
    parser.add_argument('--runs', type=int, default=10)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--threads', type=int, default=1,
                        help='torch and onnxruntime intra-op threads')
    parser.add_argument('--backends', nargs='+',
                        help='subset of torch-cpu ort-cpu torch-cuda '
                        'ort-cuda (default: all available)')
    parser.add_argument('--no-flops', action='store_true')
    parser.add_argument('--work-dir', help='keep the ONNX files here')
    parser.add_argument('--out-md', help='write the markdown table')
    parser.add_argument('--out-json', help='write every number as JSON')
    args = parser.parse_args(argv)
    if not (args.teacher or args.student or args.distilled):
        parser.error('give at least one of --teacher, --student, '
                     '--distilled')
    if args.runs < 1 or args.warmup < 0:
        parser.error('--runs must be >= 1 and --warmup >= 0')
    return args


def main(argv=None) -> Dict:
    args = parse_args(argv)
    backends = _backends(args.backends)
    size = tuple(args.input_size)
    print(f'[benchmark_latency] input 1x3x{size[0]}x{size[1]}, '
          f'{args.threads} thread(s), backends {backends}', flush=True)
    models = collect_models(args.teacher, args.student, args.distilled)
    rows = benchmark(models, size, args.runs, args.warmup, args.threads,
                     backends, not args.no_flops, args.work_dir,
                     log=lambda m: print(f'[benchmark_latency] {m}',
                                         flush=True))
    table = format_markdown(rows, backends, size)
    print(table)
    env = env_summary('cpu')
    try:
        import onnxruntime
        env['onnxruntime'] = onnxruntime.__version__
    except ImportError:
        pass
    env['load_average'] = list(os.getloadavg())
    result = dict(input_size=list(size), runs=args.runs,
                  warmup=args.warmup, threads=args.threads,
                  backends=backends, env=env, rows=rows)
    for path, text in ((args.out_md, table + '\n'),
                       (args.out_json, json.dumps(result, indent=2) + '\n')):
        if path:
            os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
            with open(path, 'w') as f:
                f.write(text)
    result['table'] = table
    return result


if __name__ == '__main__':
    main()
