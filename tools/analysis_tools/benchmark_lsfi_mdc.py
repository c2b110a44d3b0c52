# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Cost of the LSFI + MDC-KD losses relative to the student's training step.

Measures in one run, on synthetic data at COCO training shapes (default:
batch 2, 1333x800 input padded to 1344x800, FPN P3-P7 with 256 channels):

(a) ``student``: the student detector's own training step
    (``student.loss`` + backward; default RetinaNet R50-FPN);
(b) ``lsfi_mdc``: forward + backward of what LSFI + MDC-KD add on top of it
    on all five levels: the per-level ``FeatureAdapter`` (called once per
    loss, as mmrazor's distiller does; the second call reuses the output),
    ``LSFILoss`` (GT masks included) and
    ``MDCLoss`` with their default settings, on the student's real FPN
    shapes (student features are leaf tensors, teacher features random);
(c) optionally ``fgd`` (``--with-fgd``): the same for ``FGDLoss`` (with its
    global-context block), as a reference feature-KD loss.

and reports ``(b) / (a)`` for wall time, CPU time (``time.process_time``,
all threads; robust when the machine is shared, but with several threads it
also counts OpenMP spin-waiting, so prefer ``--threads 1`` on a busy CPU) and
peak memory. The
teacher forward is not included: every feature-KD method needs it.
Peak memory is ``torch.cuda.max_memory_allocated`` above the memory before
the phase on CUDA, and on CPU the peak resident-set size (sampled every
2 ms) above the RSS before the phase.

Example::

    python tools/analysis_tools/benchmark_lsfi_mdc.py --repeats 3 --threads 1
    python tools/analysis_tools/benchmark_lsfi_mdc.py --device cuda \\
        --repeats 20 --warmup 5 --with-fgd
"""
import argparse
import datetime
import gc
import json
import math
import os
import os.path as osp
import statistics
import sys
import time
from typing import Callable, Dict, Optional, Sequence, Tuple

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

import torch  # noqa: E402

from analysis_utils import REPO_ROOT, env_summary  # noqa: E402
from benchmark_distill import RssPeakSampler, release_free_memory  # noqa

__all__ = ['benchmark', 'main']

DEFAULT_STUDENT = 'configs/detectors/retinanet/retinanet_r50_fpn_2x_coco.py'


def _sync(device: str) -> None:
    if device.startswith('cuda'):
        torch.cuda.synchronize()


def time_and_memory(step: Callable[[], None], before: Callable[[], None],
                    device: str, repeats: int, warmup: int) -> Dict:
    """Run ``warmup`` untimed and ``repeats`` timed iterations of ``step``.

    Returns:
        dict: ``wall_ms`` and ``cpu_ms`` (per-iteration lists and medians)
        and ``peak_mem_mb`` (peak over the timed iterations minus the
        memory before them).
    """
    for _ in range(warmup):
        before()
        step()
    before()
    _sync(device)
    release_free_memory()
    cuda = device.startswith('cuda')
    if cuda:
        torch.cuda.empty_cache()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        sampler = None
    else:
        sampler = RssPeakSampler(interval=0.002).__enter__()
    wall, cpu = [], []
    try:
        for _ in range(repeats):
            before()
            _sync(device)
            w0, c0 = time.perf_counter(), time.process_time()
            step()
            _sync(device)
            wall.append((time.perf_counter() - w0) * 1e3)
            cpu.append((time.process_time() - c0) * 1e3)
    finally:
        if sampler is not None:
            sampler.__exit__(None, None, None)
    peak = ((torch.cuda.max_memory_allocated() - base) if cuda else
            sampler.peak_delta) / 2**20
    return dict(wall_ms=wall, cpu_ms=cpu,
                wall_ms_median=statistics.median(wall),
                cpu_ms_median=statistics.median(cpu), peak_mem_mb=peak)


def build_kd_modules(num_levels: int, channels: int, device: str,
                     lsfi_cfg: Dict, mdc_cfg: Dict) -> torch.nn.ModuleDict:
    """Adapters and losses of an LSFI + MDC-KD config, one per level."""
    from mmkd_dense.models.connectors import FeatureAdapter
    from mmkd_dense.models.losses import LSFILoss, MDCLoss
    return torch.nn.ModuleDict(
        dict(
            adapters=torch.nn.ModuleList(
                FeatureAdapter(channels, channels)
                for _ in range(num_levels)),
            lsfi=torch.nn.ModuleList(
                LSFILoss(channels=channels, **lsfi_cfg)
                for _ in range(num_levels)),
            mdc=torch.nn.ModuleList(
                MDCLoss(**mdc_cfg) for _ in range(num_levels)))).to(device)


def benchmark(student_cfg: str = DEFAULT_STUDENT,
              device: str = 'cpu',
              input_size: Tuple[int, int] = (800, 1333),
              batch_size: int = 2,
              repeats: int = 3,
              warmup: int = 1,
              with_fgd: bool = False,
              seed: int = 0) -> Dict:
    """Measure (a) the student step, (b) LSFI + MDC-KD, (c) FGD.

    Returns:
        dict: per phase the timings/memory, the FPN shapes and the ratios
        ``lsfi_mdc / student`` (and ``fgd / student``).
    """
    from mmengine.config import Config

    from mmkd_dense.structures import DistillBatchContext
    from mmkd_dense.testing import build_model_from_cfg
    from mmkd_dense.utils.dummy_batch import make_dummy_batch

    torch.manual_seed(seed)
    cfg_path = student_cfg if osp.exists(student_cfg) else osp.join(
        REPO_ROOT, student_cfg)
    cfg = Config.fromfile(cfg_path)
    student = build_model_from_cfg(cfg).to(device)
    student.train()
    divisor = 32
    padded = tuple(int(math.ceil(s / divisor) * divisor) for s in input_size)
    inputs, samples = make_dummy_batch(
        num_images=batch_size, input_shape=padded, num_classes=80,
        boxes_per_image=(6, 3), seed=seed)
    inputs = inputs.to(device)
    samples = [s.to(device) for s in samples]
    params = [p for p in student.parameters() if p.requires_grad]

    def zero_student() -> None:
        for p in params:
            p.grad = None

    def student_step() -> None:
        losses = student.loss(inputs, samples)
        total = sum(v if torch.is_tensor(v) else sum(v)
                    for k, v in losses.items() if 'loss' in k)
        total.backward()

    with torch.no_grad():
        feats = student.extract_feat(inputs)
    shapes = [tuple(f.shape) for f in feats]
    channels = shapes[0][1]
    record = dict(fpn_shapes=[list(s) for s in shapes],
                  padded_input=list(padded))
    print(f'[benchmark_lsfi_mdc] FPN shapes {shapes}', flush=True)

    print('[benchmark_lsfi_mdc] (a) student step ...', flush=True)
    record['student'] = time_and_memory(student_step, zero_student, device,
                                        repeats, warmup)
    del feats
    zero_student()

    gen = torch.Generator().manual_seed(seed + 1)
    feats_s = [torch.randn(s, generator=gen).to(device).requires_grad_()
               for s in shapes]
    feats_t = [torch.randn(s, generator=gen).to(device) for s in shapes]
    kd = build_kd_modules(len(shapes), channels, device, {}, {})
    kd_params = list(kd.parameters())

    def zero_kd() -> None:
        for t in kd_params + feats_s:
            t.grad = None

    def kd_step() -> None:
        context = DistillBatchContext.from_data_samples(samples, inputs)
        total = 0.
        for i, (s, t) in enumerate(zip(feats_s, feats_t)):
            adapter = kd['adapters'][i]
            total = total + kd['lsfi'][i](adapter(s), t, context)
            total = total + kd['mdc'][i](adapter(s), t)
        total.backward()

    print('[benchmark_lsfi_mdc] (b) LSFI + MDC-KD ...', flush=True)
    record['lsfi_mdc'] = time_and_memory(kd_step, zero_kd, device, repeats,
                                         warmup)
    phases = ['lsfi_mdc']
    if with_fgd:
        from mmkd_dense.models.losses import FGDLoss
        fgd = torch.nn.ModuleList(
            FGDLoss(channels, channels) for _ in shapes).to(device)
        fgd_params = list(fgd.parameters())

        def zero_fgd() -> None:
            for t in fgd_params + feats_s:
                t.grad = None

        def fgd_step() -> None:
            context = DistillBatchContext.from_data_samples(samples, inputs)
            total = sum(
                loss(s, t, context)
                for loss, s, t in zip(fgd, feats_s, feats_t))
            total.backward()

        print('[benchmark_lsfi_mdc] (c) FGD ...', flush=True)
        record['fgd'] = time_and_memory(fgd_step, zero_fgd, device, repeats,
                                        warmup)
        phases.append('fgd')
    base = record['student']
    for phase in phases:
        cur = record[phase]
        record[f'ratio_{phase}'] = dict(
            wall=cur['wall_ms_median'] / base['wall_ms_median'],
            cpu=cur['cpu_ms_median'] / base['cpu_ms_median'],
            memory=(cur['peak_mem_mb'] / base['peak_mem_mb']
                    if base['peak_mem_mb'] > 0 else None))
    return record


def format_table(record: Dict) -> str:
    """Markdown table of a :func:`benchmark` record."""
    lines = [
        '| phase | wall ms (median) | CPU ms (median) | peak mem MB | '
        'wall ratio | CPU ratio | mem ratio |', '|---|---|---|---|---|---|---|'
    ]
    for phase in ('student', 'lsfi_mdc', 'fgd'):
        if phase not in record:
            continue
        cur = record[phase]
        ratio = record.get(f'ratio_{phase}')

        def fmt(key: str) -> str:
            if ratio is None:
                return '1'
            value = ratio[key]
            return 'n/a' if value is None else f'{100 * value:.2f} %'

        lines.append(f'| {phase} | {cur["wall_ms_median"]:.0f} | '
                     f'{cur["cpu_ms_median"]:.0f} | '
                     f'{cur["peak_mem_mb"]:.0f} | {fmt("wall")} | '
                     f'{fmt("cpu")} | {fmt("memory")} |')
    return '\n'.join(lines)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Time and peak memory of LSFI + MDC-KD (adapters + '
        'losses, 5 FPN levels) as a ratio to the student training step.')
    parser.add_argument('--student', default=DEFAULT_STUDENT,
                        help='student detector config')
    parser.add_argument('--device', default='cpu', help='cpu or cuda')
    parser.add_argument('--input-size', nargs=2, type=int,
                        default=[800, 1333], metavar=('H', 'W'),
                        help='input size before padding to a multiple of 32')
    parser.add_argument('--batch-size', type=int, default=2)
    parser.add_argument('--repeats', type=int, default=3,
                        help='timed iterations per phase')
    parser.add_argument('--warmup', type=int, default=1,
                        help='untimed iterations per phase first')
    parser.add_argument('--with-fgd', action='store_true',
                        help='also measure FGDLoss on the same features')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch.set_num_threads (CPU)')
    parser.add_argument('--out', default=None, help='JSON output path')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> Dict:
    """Run the benchmark, print a table and write a JSON file."""
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device.startswith('cuda') and not torch.cuda.is_available():
        raise SystemExit('--device cuda given but CUDA is not available')
    gc.collect()
    record = benchmark(args.student, args.device, tuple(args.input_size),
                       args.batch_size, args.repeats, args.warmup,
                       args.with_fgd)
    now = datetime.datetime.now()
    record['meta'] = dict(
        date=now.isoformat(timespec='seconds'),
        command='python tools/analysis_tools/benchmark_lsfi_mdc.py ' +
        ' '.join(argv if argv is not None else sys.argv[1:]),
        batch_size=args.batch_size, input_size=list(args.input_size),
        repeats=args.repeats, warmup=args.warmup,
        threads=torch.get_num_threads(), env=env_summary(args.device))
    table = format_table(record)
    print(table)
    out = args.out or osp.join(
        'work_dirs', 'benchmark',
        f'benchmark_lsfi_mdc_{now.strftime("%Y%m%d_%H%M%S")}.json')
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    with open(out, 'w') as f:
        json.dump(record, f, indent=2)
    print(f'[benchmark_lsfi_mdc] wrote {out}')
    return record


if __name__ == '__main__':
    main()
