# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Cost of distillation: time and peak memory per training iteration.

For each config it measures, after warm-up, on synthetic batches
(:func:`mmkd_dense.utils.dummy_batch.make_dummy_batch`):

(a) ``student``: the student detector's own training step
    (``student.loss`` + backward), as if trained without KD;
(b) ``teacher``: the teacher's no-grad forward exactly as the algorithm runs
    it (``teacher_forward`` = feat / tensor / loss, recorders active);
(c) ``distill``: the full distillation step (``model.loss`` + backward),
    i.e. (b) + the student step + recorders, connectors and KD losses.

and reports ``ratio = (c) / ((a) + (b))``: 1.0 means the KD losses cost
nothing beyond running both networks. The three steps run in interleaved
rounds (a, b, c, a, b, c, ...) so that load changes hit them alike; wall
time is the main clock (``ratio``) and the process CPU time is kept too
(``ratio_cpu``: on a CPU shared with other jobs it is the stable one, as it
does not count time spent waiting for a core). Peak memory is
``torch.cuda.max_memory_allocated`` above the resident model on CUDA, and on
CPU the peak resident-set-size (RSS, sampled every ms in a separate pass of
the same steps) above the RSS before the pass. Optimiser steps are not
included (they are the same with and without KD for the student).

Examples::

    python tools/analysis_tools/benchmark_distill.py \
        configs/baselines/fgd/fgd_fpn_retina-r101_retina-r50_2x_coco.py \
        --input-size 320 480 --batch-size 2 --iters 5 --warmup 2
    # every method on one detector pair (comparable ratios):
    python tools/analysis_tools/benchmark_distill.py --suite \
        --pair retina-r101_retina-r50 --dataset coco --device cuda \
        --input-size 800 1216 --out work_dirs/bench/suite.json
"""
import argparse
import ctypes
import datetime
import gc
import json
import math
import os
import os.path as osp
import sys
import threading
import time
from typing import Callable, Dict, List, Optional, Sequence

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

import torch  # noqa: E402
from mmengine.config import DictAction  # noqa: E402

from analysis_utils import (count_params, dataset_of,  # noqa: E402
                            env_summary, find_suite_configs, get_distiller, get_student,
                            get_teacher, infer_num_classes, is_distill_model,
                            load_config, make_batch, method_of, build_model,
                            sum_losses, teacher_forward_fn,
                            teacher_forward_mode)

__all__ = ['benchmark_config', 'measure', 'RssPeakSampler', 'main',
           'format_table']

PHASES = ('student', 'teacher', 'distill')
PHASE_TITLES = dict(student='(a) student step', teacher='(b) teacher fwd',
                    distill='(c) distill step')


class RssPeakSampler:
    """Peak resident set size of this process, sampled in a thread.

    PyTorch's CPU allocator bypasses Python's allocator, so ``tracemalloc``
    cannot see tensors; RSS can. Use as a context manager; ``peak_delta``
    is the peak RSS during the block minus the RSS when it was entered, in
    bytes.
    """

    def __init__(self, interval: float = 0.001) -> None:
        self.interval = interval
        self.start = 0
        self.peak = 0
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    @staticmethod
    def rss() -> int:
        """Current RSS in bytes (``/proc/self/statm``, else ru_maxrss)."""
        try:
            with open('/proc/self/statm') as f:
                return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')
        except (OSError, ValueError, IndexError):
            import resource
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss())
            time.sleep(self.interval)

    def __enter__(self) -> 'RssPeakSampler':
        release_free_memory()
        self.start = self.rss()
        self.peak = self.start
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.peak = max(self.peak, self.rss())
        self._stop.set()
        self._thread.join()

    @property
    def peak_delta(self) -> int:
        """Peak RSS minus RSS at entry (bytes, >= 0)."""
        return max(0, self.peak - self.start)


def release_free_memory() -> None:
    """Collect garbage and give freed heap pages back to the OS (glibc
    ``malloc_trim``), so that an RSS baseline is not inflated by memory the
    previous phase freed."""
    gc.collect()
    try:
        ctypes.CDLL('libc.so.6').malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _sync(device: str) -> None:
    if device.startswith('cuda'):
        torch.cuda.synchronize(torch.device(device))


def _stats(values: Sequence[float]) -> Dict[str, float]:
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean)**2 for v in values) / max(n - 1, 1))
    ordered = sorted(values)
    median = (ordered[n // 2] if n % 2 else
              0.5 * (ordered[n // 2 - 1] + ordered[n // 2]))
    return dict(mean=mean, std=std, median=median, min=ordered[0],
                max=ordered[-1])


def _cuda_phase_base(device: str) -> int:
    torch.cuda.synchronize(torch.device(device))
    base = torch.cuda.memory_allocated(torch.device(device))
    torch.cuda.reset_peak_memory_stats(torch.device(device))
    return base


def measure_phases(steps: Dict[str, Callable[[], None]],
                   device: str,
                   iters: int,
                   warmup: int,
                   before: Optional[Callable[[], None]] = None,
                   mem_iters: int = 2) -> Dict[str, Dict]:
    """Time several steps in interleaved rounds and measure their memory.

    Every round runs each step once (``a, b, c, a, b, c, ...``), so a load
    change on a shared machine hits all steps alike. Per iteration both the
    wall time and the process CPU time (``time.process_time``: all threads
    of this process; robust to other processes competing for the cores on
    CPU, meaningless for CUDA work) are recorded.

    Args:
        steps: name -> one iteration.
        device: ``'cpu'`` or ``'cuda[:i]'``.
        iters: timed rounds (after ``warmup`` untimed ones).
        warmup: untimed rounds first.
        before: run before every iteration, untimed (e.g. zero grads).
        mem_iters: CPU: iterations of each step's separate RSS pass.

    Returns:
        dict: per step ``time_ms`` and ``cpu_time_ms`` (mean/std/median/
        min/max and the per-round ``values``), ``peak_mem_mb`` and
        ``memory_metric``.
    """
    before = before or (lambda: None)
    cuda = device.startswith('cuda')
    for _ in range(warmup):
        for step in steps.values():
            before()
            step()
    _sync(device)
    wall: Dict[str, List[float]] = {k: [] for k in steps}
    cpu: Dict[str, List[float]] = {k: [] for k in steps}
    peak: Dict[str, float] = {k: 0.0 for k in steps}
    total: Dict[str, float] = {k: 0.0 for k in steps}
    if cuda:
        before()
        gc.collect()
        torch.cuda.empty_cache()
    for _ in range(iters):
        for name, step in steps.items():
            before()
            base = _cuda_phase_base(device) if cuda else 0
            start, cpu_start = time.perf_counter(), time.process_time()
            step()
            _sync(device)
            wall[name].append((time.perf_counter() - start) * 1000.0)
            cpu[name].append((time.process_time() - cpu_start) * 1000.0)
            if cuda:
                top = torch.cuda.max_memory_allocated(torch.device(device))
                peak[name] = max(peak[name], (top - base) / 2**20)
                total[name] = max(total[name], top / 2**20)
    results = {}
    for name, step in steps.items():
        res = dict(time_ms=dict(_stats(wall[name]), values=wall[name]),
                   cpu_time_ms=dict(_stats(cpu[name]), values=cpu[name]))
        if cuda:
            res['peak_mem_mb'] = peak[name]
            res['peak_mem_total_mb'] = total[name]
            res['memory_metric'] = 'cuda_max_memory_allocated_delta'
        else:
            before()
            with RssPeakSampler() as sampler:
                for _ in range(max(mem_iters, 1)):
                    step()
                    before()
            res['peak_mem_mb'] = sampler.peak_delta / 2**20
            res['memory_metric'] = 'cpu_rss_peak_delta'
        results[name] = res
    return results


def measure(step: Callable[[], None], device: str, iters: int, warmup: int,
            before: Optional[Callable[[], None]] = None,
            mem_iters: int = 2) -> Dict:
    """Time one step and measure its peak memory (see
    :func:`measure_phases`)."""
    return measure_phases(dict(step=step), device, iters, warmup, before,
                          mem_iters)['step']


def benchmark_config(config: str,
                     device: str = 'cpu',
                     input_size: Sequence[int] = (320, 480),
                     batch_size: int = 2,
                     iters: int = 5,
                     warmup: int = 2,
                     mem_iters: int = 2,
                     cfg_options: Optional[Dict] = None,
                     seed: int = 0,
                     ratio_stat: str = 'mean') -> Dict:
    """Measure (a), (b), (c) and the overhead ratio of one config.

    Returns:
        dict: ``config``, ``method``, ``teacher_forward``, params, one entry
        per phase (``student``, ``teacher``, ``distill``) and ``ratio``
        (time, from the ``ratio_stat`` of the per-iteration times; both
        ``ratio_mean`` and ``ratio_median`` are kept), ``ratio_mem`` and
        ``overhead_ms`` = (c) - (a) - (b).
    """
    if ratio_stat not in ('mean', 'median'):
        raise ValueError(f'ratio_stat must be mean or median, not '
                         f'{ratio_stat}')
    torch.manual_seed(seed)
    cfg = load_config(config, cfg_options)
    model = build_model(cfg, device)
    if not is_distill_model(model):
        raise TypeError(f'{config}: model.type={cfg.model.get("type")} is '
                        'not a distillation algorithm (no teacher).')
    model.train()
    student = get_student(model)
    teacher = get_teacher(model)
    num_classes = infer_num_classes(student)
    inputs, samples = make_batch(batch_size, input_size, num_classes, device,
                                 seed=seed)
    trainable = [p for p in model.parameters() if p.requires_grad]

    def zero_grad() -> None:
        for p in trainable:
            p.grad = None

    def student_step() -> None:
        sum_losses(student.loss(inputs, samples)).backward()

    def distill_step() -> None:
        sum_losses(model.loss(inputs, samples)).backward()

    teacher_step = teacher_forward_fn(model, inputs, samples)
    steps = dict(student=student_step, teacher=teacher_step,
                 distill=distill_step)
    record = dict(
        config=config, method=method_of(config), dataset=dataset_of(config),
        teacher_forward=teacher_forward_mode(model),
        num_classes=num_classes,
        params_m=dict(
            student=count_params(student) / 1e6,
            teacher=count_params(teacher) / 1e6,
            distiller=count_params(get_distiller(model)) / 1e6))
    record.update(measure_phases(steps, device, iters, warmup,
                                 before=zero_grad, mem_iters=mem_iters))
    zero_grad()
    for clock, suffix in (('time_ms', ''), ('cpu_time_ms', '_cpu')):
        for stat in ('mean', 'median'):
            a, b, c = (record[p][clock][stat] for p in PHASES)
            record[f'ratio{suffix}_{stat}'] = c / (a + b)
            record[f'overhead_ms{suffix}_{stat}'] = c - a - b
        rounds = [c / (a + b) for a, b, c in zip(
            *(record[p][clock]['values'] for p in PHASES))]
        record[f'ratio{suffix}_per_round'] = rounds
    record['ratio_stat'] = ratio_stat
    record['ratio'] = record[f'ratio_{ratio_stat}']
    record['ratio_cpu'] = record[f'ratio_cpu_{ratio_stat}']
    record['overhead_ms'] = record[f'overhead_ms_{ratio_stat}']
    ma = record['student']['peak_mem_mb']
    mb = record['teacher']['peak_mem_mb']
    mc = record['distill']['peak_mem_mb']
    record['ratio_mem'] = mc / (ma + mb) if ma + mb > 0 else None
    del model, inputs, samples
    release_free_memory()
    if device.startswith('cuda'):
        torch.cuda.empty_cache()
    return record


def format_table(results: List[Dict], stat: str = 'mean') -> str:
    """Markdown table of the results (errors get their own rows)."""
    unit = 'ms, mean ± std' if stat == 'mean' else 'ms, median [min-max]'
    header = (f'| config | method | classes | T fwd | (a) student {unit} | '
              f'(b) teacher {unit} | (c) distill {unit} | ratio c/(a+b) | '
              'ratio (CPU time) | (a) MB | (b) MB | (c) MB | mem ratio |')
    ncol = header.count('|') - 1
    lines = [header, '|' + '---|' * ncol]
    for r in results:
        name = osp.splitext(osp.basename(r['config']))[0]
        if 'error' in r:
            lines.append(f'| {name} | {r.get("method", "?")} | '
                         f'ERROR: {r["error"]} |' + ' |' * (ncol - 3))
            continue

        def t(p):
            s = r[p]['time_ms']
            if r.get('ratio_stat') == 'median':
                return f'{s["median"]:.1f} [{s["min"]:.0f}-{s["max"]:.0f}]'
            return f'{s["mean"]:.1f} ± {s["std"]:.1f}'

        lines.append(
            f'| {name} | {r["method"]} | {r["num_classes"]} | '
            f'{r["teacher_forward"]} | '
            f'{t("student")} | {t("teacher")} | {t("distill")} | '
            f'{r["ratio"]:.3f} | {r["ratio_cpu"]:.3f} | '
            f'{r["student"]["peak_mem_mb"]:.0f} | '
            f'{r["teacher"]["peak_mem_mb"]:.0f} | '
            f'{r["distill"]["peak_mem_mb"]:.0f} | '
            + ('n/a' if r['ratio_mem'] is None else f'{r["ratio_mem"]:.2f}')
            + ' |')
    return '\n'.join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Per-iteration time and peak memory of the student '
        'step, the teacher forward and the distillation step.')
    parser.add_argument('configs', nargs='*', help='distillation configs')
    parser.add_argument(
        '--suite', action='store_true',
        help='benchmark every method config (configs/lsfi_mdc, ds2d2, '
        'cid_lightml, baselines/*) for --pair/--dataset in one run')
    parser.add_argument('--pair', default='retina-r101_retina-r50',
                        help='suite: {teacher}_{student} name fields')
    parser.add_argument('--dataset', default='coco',
                        help='suite: dataset name field ("" for any)')
    parser.add_argument('--device', default='cpu',
                        help='cpu, cuda or cuda:N')
    parser.add_argument('--input-size', nargs=2, type=int,
                        default=[320, 480], metavar=('H', 'W'),
                        help='padded input size (COCO training: 800 1216)')
    parser.add_argument('--batch-size', type=int, default=2)
    parser.add_argument('--iters', type=int, default=5,
                        help='timed iterations per phase')
    parser.add_argument('--warmup', type=int, default=2,
                        help='untimed iterations per phase first')
    parser.add_argument('--mem-iters', type=int, default=2,
                        help='CPU: iterations of the RSS pass')
    parser.add_argument(
        '--stat', choices=['mean', 'median'], default='mean',
        help='statistic of the per-iteration times used for the table and '
        'the ratio (median is robust on a shared machine); JSON has both')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch.set_num_threads (CPU)')
    parser.add_argument('--out', default=None,
                        help='JSON output (default work_dirs/benchmark/'
                        'benchmark_distill_<time>.json)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='overrides applied to every config')
    parser.add_argument('--fail-fast', action='store_true',
                        help='stop at the first config that fails')
    args = parser.parse_args(argv)
    if not args.configs and not args.suite:
        parser.error('give config files or --suite')
    return args


def main(argv=None) -> Dict:
    """Run the benchmark; returns what is written to the JSON file."""
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device.startswith('cuda') and not torch.cuda.is_available():
        raise SystemExit('--device cuda given but CUDA is not available')
    configs = list(args.configs)
    if args.suite:
        suite = find_suite_configs(args.pair, args.dataset or None)
        if not suite:
            raise SystemExit(f'--suite: no config for pair "{args.pair}" '
                             f'and dataset "{args.dataset}"')
        configs += [c for c in suite if c not in configs]
    results = []
    for config in configs:
        print(f'[benchmark_distill] {config}', flush=True)
        try:
            record = benchmark_config(
                config, device=args.device, input_size=args.input_size,
                batch_size=args.batch_size, iters=args.iters,
                warmup=args.warmup, mem_iters=args.mem_iters,
                cfg_options=args.cfg_options, ratio_stat=args.stat)
        except Exception as err:  # keep going: one broken config
            if args.fail_fast:
                raise
            record = dict(config=config, method=method_of(config),
                          error=f'{type(err).__name__}: {err}'.splitlines()[0])
        results.append(record)
    now = datetime.datetime.now()
    output = dict(
        meta=dict(
            date=now.isoformat(timespec='seconds'),
            command='python tools/analysis_tools/benchmark_distill.py ' +
            ' '.join(argv if argv is not None else sys.argv[1:]),
            input_size=list(args.input_size), batch_size=args.batch_size,
            iters=args.iters, warmup=args.warmup, stat=args.stat,
            memory_metric=('cuda_max_memory_allocated_delta'
                           if args.device.startswith('cuda') else
                           'cpu_rss_peak_delta'),
            env=env_summary(args.device)),
        results=results)
    table = format_table(results, args.stat)
    print(table)
    out = args.out or osp.join(
        'work_dirs', 'benchmark',
        f'benchmark_distill_{now.strftime("%Y%m%d_%H%M%S")}.json')
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    with open(out, 'w') as f:
        json.dump(output, f, indent=2)
    print(f'[benchmark_distill] wrote {out}')
    output['table'] = table
    return output


if __name__ == '__main__':
    main()
