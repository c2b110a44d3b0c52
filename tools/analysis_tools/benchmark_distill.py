# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Cost of distillation: time and peak memory per training iteration.

The one step-cost benchmark of the project (it replaces
``benchmark_ds2d2_step.py``, ``benchmark_lsfi_mdc.py`` and
``cid_lightml_cost.py``). For each config it measures, after warm-up, on
synthetic batches (:func:`mmkd_dense.utils.dummy_batch.make_dummy_batch`):

(a) ``student``: the student detector's own training step
    (``student.loss`` + backward), as if trained without KD;
(b) ``teacher``: the teacher's no-grad forward exactly as the algorithm runs
    it (``teacher_forward`` = feat / tensor / loss, recorders active);
(c) ``distill``: the full distillation step (``model.loss`` + backward),
    i.e. (b) + the student step + recorders, connectors and KD losses.

**The step-cost ratio** (one definition, used by every report of the
project, see :func:`step_cost_ratio`)::

    ratio = median(c) / (median(a) + median(b))

over ``--iters`` interleaved rounds (a, b, c, a, b, c, ...: a load change on
a shared machine hits all phases alike), on CPU from the process CPU time
(``time.process_time``, which does not count waiting for a core) with one
torch thread (``--threads 1``, the default on CPU: more threads add OpenMP
spin-waiting to the CPU time), on CUDA from the synchronised wall time.
1.0 means the KD losses cost nothing beyond running both networks. The JSON
keeps both clocks and both statistics (``ratio_{mean,median}`` wall,
``ratio_cpu_{mean,median}``) and the per-round ratios.

Method-specific options:

* ``--with-head``: also (b') ``teacher_head``, the teacher's whole forward
  including its head (``mode='tensor'``), and ``ratio_with_head = (c) /
  ((a) + (b'))``: the cost relative to running both complete detectors
  (DS2D2, CID, LD and CrossKD run the teacher head inside their losses).
* ``--interval K [K ...]``: every loss with an ``interval`` option (DS2D2's
  implicit amplifier streams) runs every K-th iteration; (c) is then the
  mean over one cycle of K consecutive iterations (the average cost of an
  iteration in training). Several values are measured one after the other.
  Missing ``*_ckpt`` files (teacher, DS2D2 amplifier) are ignored: the timing
  does not depend on the weights.
* ``--breakdown``: the parts of one distillation step, timed inside the real
  ``model.loss`` by hooks (so it works for every method): teacher forward,
  student forward, each connector and each KD loss forward, the backward of
  the task losses alone and of task + KD losses; ``kd_ms`` = KD forward +
  extra backward and ``kd_share_of_student`` = ``kd_ms`` / (a) (what
  LSFI + MDC-KD, CID, ... add to the student's own step).
* ``--reference-student CFG``: (a') a plain detector (e.g. the student
  without Light-ML) in the same rounds; ``student_vs_reference`` = (a) /
  (a') - 1 (Light-ML's training overhead) and ``ratio_vs_reference`` =
  (c) / (a').
* ``--lightml-cost [CFG ...]``: parameters and multiply-accumulates (MACs;
  FLOPs = 2 x MACs) of every Light-ML module of a student, of its head and of
  the whole student, from forward hooks on every ``Conv2d``/``Linear`` in
  one ``mode='tensor'`` forward at ``--flops-size`` (default: the four
  Light-ML VisDrone students).

Peak memory is ``torch.cuda.max_memory_allocated`` above the resident model
on CUDA, and on CPU the peak resident-set-size (RSS, sampled every ms in a
separate pass of the same steps) above the RSS before the pass. Optimiser
steps are not included (they are the same with and without KD).

Before/after comparisons: ``--repo PATH`` runs this tool on another
checkout (its ``mmkd_dense`` package and ``configs/``), e.g. a worktree of
an older commit, and ``--compare OLD.json`` prints the ratio of every method
against an earlier run and exits with 1 when one got worse by more than
``--tolerance`` (default 2 %).

Examples::

    python tools/analysis_tools/benchmark_distill.py \
        configs/baselines/fgd/fgd_fpn_retina-r101_retina-r50_2x_coco.py \
        --input-size 320 480 --batch-size 2 --iters 5 --warmup 2
    # every method on one or more detector pairs (comparable ratios):
    python tools/analysis_tools/benchmark_distill.py --suite \
        --pair retina-r101_retina-r50 gfl-r101_gfl-r50 --dataset coco \
        --input-size 256 384 --iters 4 --warmup 1 --out work_dirs/suite.json
    # DS2D2 with the implicit streams every 1, 2, 3 iterations
    python tools/analysis_tools/benchmark_distill.py \
        configs/ds2d2/ds2d2_fpn_retina-r101_retina-r18_2x_dior.py \
        --input-size 320 320 --iters 3 --with-head --breakdown \
        --interval 1 2 3
"""
import argparse
import ctypes
import datetime
import gc
import json
import math
import os
import os.path as osp
import subprocess
import sys
import threading
import time
from collections import defaultdict
from typing import Callable, Dict, List, Optional, Sequence, Tuple

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

import torch  # noqa: E402
from mmengine.config import DictAction  # noqa: E402
from torch import nn  # noqa: E402

from analysis_utils import (REPO_ROOT, build_model,  # noqa: E402
                            count_params, dataset_of, env_summary,
                            find_suite_configs, get_distiller, get_student,
                            get_teacher, infer_num_classes, is_distill_model,
                            load_config, make_batch, method_of, pair_of,
                            sum_losses, teacher_forward_fn,
                            teacher_forward_mode)

__all__ = [
    'benchmark_config', 'measure', 'measure_phases', 'step_cost_ratio',
    'breakdown_step', 'lightml_cost', 'MacCounter', 'RssPeakSampler',
    'compare_results', 'format_table', 'main'
]

PHASES = ('student', 'teacher', 'distill')

#: ``--lightml-cost`` without arguments: the Light-ML students
LIGHTML_STUDENTS = (
    'configs/detectors/gfl/gfl-lightml_r18_fpn_15e_visdrone.py',
    'configs/detectors/retinanet/retinanet-lightml_r18_fpn_15e_visdrone.py',
    'configs/detectors/fcos/fcos-lightml_r18_fpn_gn-head_15e_visdrone.py',
    'configs/detectors/faster_rcnn/'
    'faster-rcnn-lightml_r18_fpn_15e_visdrone.py',
)


def _log(msg: str) -> None:
    print(f'[benchmark_distill] {msg}', flush=True)


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
                   mem_iters: int = 2,
                   progress: Optional[Callable[[int, int, Dict[str, float]],
                                               None]] = None
                   ) -> Dict[str, Dict]:
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
        progress: called after every timed round with ``(round, rounds,
            {step: CPU ms of this round})`` (``round`` counts from 1).

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
    for round_idx in range(iters):
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
        if progress is not None:
            progress(round_idx + 1, iters,
                     {k: (wall if cuda else cpu)[k][-1] for k in steps})
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


def ratio_clock(device: str) -> str:
    """The clock of the step-cost ratio: process CPU time on CPU
    (``'cpu_time_ms'``), synchronised wall time on CUDA (``'time_ms'``)."""
    return 'time_ms' if device.startswith('cuda') else 'cpu_time_ms'


def step_cost_ratio(phases: Dict[str, Dict], device: str,
                    teacher: str = 'teacher') -> float:
    """The project's step-cost ratio from :func:`measure_phases` results.

    ``median(distill) / (median(student) + median(teacher))`` of the
    interleaved rounds, on :func:`ratio_clock` of ``device``. Pass
    ``teacher='teacher_head'`` for the with-head denominator.
    """
    clock = ratio_clock(device)
    a, b, c = (phases[p][clock]['median']
               for p in ('student', teacher, 'distill'))
    return c / (a + b)


def _scale_phase(res: Dict, factor: float) -> None:
    """Divide the times of one phase by ``factor`` (iterations per call)."""
    for clock in ('time_ms', 'cpu_time_ms'):
        values = [v / factor for v in res[clock]['values']]
        res[clock] = dict(_stats(values), values=values)


def apply_interval(model: nn.Module,
                   interval: Optional[int]) -> Tuple[int, List[str]]:
    """Set the ``interval`` of every loss that has one (its ``schedule``,
    :class:`mmkd_dense.models.utils.IterationInterval`).

    Returns:
        tuple: the iterations of one cycle (least common multiple of the
        intervals; 1 without such a loss) and the names of those losses.
    """
    distiller = get_distiller(model)
    cycle, names = 1, []
    for name, loss in getattr(distiller, 'distill_losses', {}).items():
        schedule = getattr(loss, 'schedule', None)
        if schedule is None or not hasattr(schedule, 'interval'):
            continue
        if interval is not None:
            loss.schedule = type(schedule)(interval, '--interval')
        cycle = math.lcm(cycle, loss.schedule.interval)
        names.append(name)
    return cycle, names


class NoIntervalLoss(ValueError):
    """``--interval`` given for a config without an ``interval`` option."""


def _clocks() -> Tuple[float, float]:
    return time.perf_counter(), time.process_time()


class _PartTimer:
    """Wall and CPU time (ms) spent in named parts of a step."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.acc: Dict[str, List[float]] = defaultdict(lambda: [0.0, 0.0])
        self._open: Dict[str, List[Tuple[float, float]]] = defaultdict(list)

    def begin(self, key: str) -> None:
        _sync(self.device)
        self._open[key].append(_clocks())

    def end(self, key: str) -> None:
        _sync(self.device)
        wall, cpu = _clocks()
        wall0, cpu0 = self._open[key].pop()
        self.acc[key][0] += (wall - wall0) * 1000.0
        self.acc[key][1] += (cpu - cpu0) * 1000.0

    def timed(self, key: str, fn: Callable[[], object]) -> object:
        self.begin(key)
        out = fn()
        self.end(key)
        return out


def _hook_module(module: nn.Module, key: str, timer: _PartTimer) -> list:
    return [
        module.register_forward_pre_hook(lambda *_: timer.begin(key)),
        module.register_forward_hook(lambda *_: timer.end(key))
    ]


def _wrap_method(obj, name: str, key: str, timer: _PartTimer) -> bool:
    """Time ``obj.name(...)`` through an instance attribute (undone by
    deleting it)."""
    method = getattr(obj, name, None)
    if method is None or name in vars(obj):
        return False

    def wrapped(*args, **kwargs):
        timer.begin(key)
        try:
            return method(*args, **kwargs)
        finally:
            timer.end(key)

    setattr(obj, name, wrapped)
    return True


def breakdown_step(model: nn.Module, inputs: torch.Tensor, samples: list,
                   device: str, iters: int, warmup: int, cycle: int = 1,
                   before: Optional[Callable[[], None]] = None,
                   progress: bool = False) -> Dict:
    """The parts of one distillation step, timed inside ``model.loss``.

    Hooks time the teacher forward (``model._run_teacher``), the student
    forward, every connector and every KD loss forward and the distiller's
    ``compute_distill_losses``; then the backward of the task losses alone
    (``retain_graph``) and, after zeroing the gradients, of task + KD
    losses (the ``distill.*`` entries). Works for any distillation config.

    Returns:
        dict: ``parts_ms`` / ``parts_wall_ms``: per part the median over
        ``iters`` rounds (after ``warmup``) of its CPU / wall time per
        iteration (mean over ``cycle`` iterations), and on the ratio clock
        ``kd_forward_ms`` (KD losses + connectors), ``kd_backward_ms``
        (backward(task + KD) - backward(task)) and ``kd_ms`` (their sum).
    """
    before = before or (lambda: None)
    timer = _PartTimer(device)
    distiller = get_distiller(model)
    handles = _hook_module(get_student(model), 'student_forward', timer)
    for name, module in getattr(distiller, 'connectors', {}).items():
        handles += _hook_module(module, f'connector:{name}', timer)
    for name, module in getattr(distiller, 'distill_losses', {}).items():
        handles += _hook_module(module, f'loss:{name}', timer)
    wrapped = []
    if _wrap_method(model, '_run_teacher', 'teacher_forward', timer):
        wrapped.append((model, '_run_teacher'))
    elif teacher_forward_mode(model) == 'feat' and _wrap_method(
            get_teacher(model), 'extract_feat', 'teacher_forward', timer):
        wrapped.append((get_teacher(model), 'extract_feat'))
    else:
        handles += _hook_module(get_teacher(model), 'teacher_forward', timer)
    if _wrap_method(distiller, 'compute_distill_losses', 'kd_total', timer):
        wrapped.append((distiller, 'compute_distill_losses'))
    rounds: List[Dict[str, List[float]]] = []
    try:
        for r in range(warmup + iters):
            timer.acc.clear()
            for _ in range(cycle):
                before()
                losses = timer.timed('forward',
                                     lambda: model.loss(inputs, samples))
                task = sum_losses({
                    k: v
                    for k, v in losses.items() if not k.startswith('distill.')
                })
                kd = [
                    v for k, v in losses.items()
                    if k.startswith('distill.') and 'loss' in k
                ]
                timer.timed('backward_task',
                            lambda: task.backward(retain_graph=True))
                before()
                total = task + sum(kd) if kd else task
                timer.timed('backward_task_kd', total.backward)
            before()
            if r >= warmup:
                rounds.append({k: [v[0] / cycle, v[1] / cycle]
                               for k, v in timer.acc.items()})
                if progress:
                    _log(f'  breakdown round {r - warmup + 1}/{iters}')
    finally:
        for handle in handles:
            handle.remove()
        for obj, name in wrapped:
            delattr(obj, name)

    def median(key: str, idx: int) -> float:
        return _stats([rd.get(key, [0.0, 0.0])[idx] for rd in rounds])[
            'median']

    keys = sorted({k for rd in rounds for k in rd})
    parts_wall = {k: median(k, 0) for k in keys}
    parts_cpu = {k: median(k, 1) for k in keys}
    parts = parts_wall if device.startswith('cuda') else parts_cpu
    kd_parts = [k for k in keys if k.startswith(('loss:', 'connector:'))]
    kd_forward = parts.get('kd_total', sum(parts[k] for k in kd_parts))
    kd_backward = parts['backward_task_kd'] - parts['backward_task']
    return dict(
        clock=ratio_clock(device), parts_ms=parts_cpu,
        parts_wall_ms=parts_wall, kd_forward_ms=kd_forward,
        kd_backward_ms=kd_backward, kd_ms=kd_forward + kd_backward,
        forward_other_ms=parts['forward'] - kd_forward -
        parts.get('teacher_forward', 0.0) - parts.get('student_forward', 0.0))


def benchmark_config(config: str,
                     device: str = 'cpu',
                     input_size: Sequence[int] = (320, 480),
                     batch_size: int = 2,
                     iters: int = 5,
                     warmup: int = 2,
                     mem_iters: int = 2,
                     cfg_options: Optional[Dict] = None,
                     seed: int = 0,
                     interval: Optional[int] = None,
                     with_head: bool = False,
                     breakdown: bool = False,
                     reference_student: Optional[str] = None,
                     progress: bool = False) -> Dict:
    """Measure (a), (b), (c) (and the optional phases) of one config.

    Args:
        interval: override the ``interval`` of the losses that have one
            (raises :class:`NoIntervalLoss` when none has).
        with_head: also time (b') the teacher forward with its head.
        breakdown: also time the parts of the step
            (:func:`breakdown_step`).
        reference_student: a plain detector config timed as (a') in the
            same rounds (same batch; its class count must match).
        progress: print one line per timed round.

    Returns:
        dict: ``config``, ``method``, ``pair``, ``teacher_forward``,
        params, one entry per phase (``student``, ``teacher``, ``distill``,
        optionally ``teacher_head``, ``reference``), ``ratio`` (the
        step-cost ratio, :func:`step_cost_ratio`) with ``ratio_clock``,
        ``ratio_{mean,median}`` (wall) and ``ratio_cpu_{mean,median}``,
        per-round ratios, ``overhead_ms``, ``ratio_mem`` and the optional
        ``ratio_with_head``, ``ratio_vs_reference``,
        ``student_vs_reference``, ``breakdown``.
    """
    torch.manual_seed(seed)
    cfg = load_config(config, cfg_options)
    model = build_model(cfg, device)
    if not is_distill_model(model):
        raise TypeError(f'{config}: model.type={cfg.model.get("type")} is '
                        'not a distillation algorithm (no teacher).')
    model.train()
    cycle, interval_losses = apply_interval(model, None)
    if interval is not None:
        if not interval_losses:
            raise NoIntervalLoss(
                f'--interval {interval}: {config} has no distill loss with '
                'an `interval` option (DS2D2\'s implicit losses have one); '
                'leave --interval out for this config.')
        cycle, interval_losses = apply_interval(model, interval)
    student = get_student(model)
    teacher = get_teacher(model)
    num_classes = infer_num_classes(student)
    inputs, samples = make_batch(batch_size, input_size, num_classes, device,
                                 seed=seed)
    trainable = [p for p in model.parameters() if p.requires_grad]
    reference = None
    if reference_student:
        reference = build_model(load_config(reference_student), device)
        reference.train()
        ref_classes = infer_num_classes(reference)
        if ref_classes != num_classes:
            raise ValueError(
                f'--reference-student {reference_student} has '
                f'{ref_classes} classes, the student of {config} has '
                f'{num_classes}; give a reference detector of the same '
                'data set.')
        trainable += [p for p in reference.parameters() if p.requires_grad]

    def zero_grad() -> None:
        for p in trainable:
            p.grad = None

    def distill_step() -> None:
        for i in range(cycle):
            if i:
                zero_grad()
            sum_losses(model.loss(inputs, samples)).backward()

    steps = dict(
        student=lambda: sum_losses(student.loss(inputs, samples)).backward(),
        teacher=teacher_forward_fn(model, inputs, samples),
        distill=distill_step)
    if with_head:

        def teacher_head() -> None:
            with torch.no_grad():
                teacher(inputs, samples, mode='tensor')

        steps['teacher_head'] = teacher_head
    if reference is not None:
        steps['reference'] = lambda: sum_losses(
            reference.loss(inputs, samples)).backward()
    record = dict(
        config=config, method=method_of(config), pair=pair_of(config),
        dataset=dataset_of(config),
        teacher_forward=teacher_forward_mode(model),
        num_classes=num_classes, interval=interval,
        interval_losses=interval_losses, iterations_per_round=cycle,
        params_m=dict(
            student=count_params(student) / 1e6,
            teacher=count_params(teacher) / 1e6,
            distiller=count_params(get_distiller(model)) / 1e6))
    if reference_student:
        record['reference_student'] = reference_student
    clock = ratio_clock(device)
    started = time.perf_counter()

    def report(done: int, total: int, last: Dict[str, float]) -> None:
        elapsed = time.perf_counter() - started
        parts = ', '.join(f'{k} {v / (cycle if k == "distill" else 1):.0f}'
                          for k, v in last.items())
        _log(f'  round {done}/{total} ({clock}): {parts}; '
             f'{elapsed:.0f} s so far, about '
             f'{elapsed / done * (total - done):.0f} s left')

    record.update(
        measure_phases(steps, device, iters, warmup, before=zero_grad,
                       mem_iters=mem_iters,
                       progress=report if progress else None))
    _scale_phase(record['distill'], cycle)
    zero_grad()
    for clk, suffix in (('time_ms', ''), ('cpu_time_ms', '_cpu')):
        for stat in ('mean', 'median'):
            a, b, c = (record[p][clk][stat] for p in PHASES)
            record[f'ratio{suffix}_{stat}'] = c / (a + b)
            record[f'overhead_ms{suffix}_{stat}'] = c - a - b
        rounds = [c / (a + b) for a, b, c in zip(
            *(record[p][clk]['values'] for p in PHASES))]
        record[f'ratio{suffix}_per_round'] = rounds
    record['ratio_clock'] = clock
    record['ratio'] = step_cost_ratio(record, device)
    record['overhead_ms'] = (record['distill'][clock]['median'] -
                             record['student'][clock]['median'] -
                             record['teacher'][clock]['median'])
    if with_head:
        record['ratio_with_head'] = step_cost_ratio(record, device,
                                                    'teacher_head')
    if reference is not None:
        ref = record['reference'][clock]['median']
        record['ratio_vs_reference'] = record['distill'][clock][
            'median'] / ref
        record['student_vs_reference'] = record['student'][clock][
            'median'] / ref - 1
    ma, mb, mc = (record[p]['peak_mem_mb'] for p in PHASES)
    record['ratio_mem'] = mc / (ma + mb) if ma + mb > 0 else None
    if breakdown:
        apply_interval(model, interval)  # restart the schedules' phase
        parts = breakdown_step(model, inputs, samples, device, iters, warmup,
                               cycle, before=zero_grad, progress=progress)
        parts['kd_share_of_student'] = parts['kd_ms'] / record['student'][
            clock]['median']
        record['breakdown'] = parts
    zero_grad()
    del model, reference, inputs, samples
    release_free_memory()
    if device.startswith('cuda'):
        torch.cuda.empty_cache()
    return record


class MacCounter:
    """Multiply-accumulates of every ``Conv2d``/``Linear``, per module name,
    from forward hooks (``output elements x (in_channels / groups) x
    kernel area``; ``Linear``: ``output elements x in_features``)."""

    def __init__(self, model: nn.Module) -> None:
        self.macs: Dict[str, int] = {}
        self.handles = [
            module.register_forward_hook(self._hook(name))
            for name, module in model.named_modules()
            if isinstance(module, (nn.Conv2d, nn.Linear))
        ]

    def _hook(self, name: str) -> Callable:

        def hook(module, inputs, output) -> None:
            if isinstance(module, nn.Conv2d):
                per_out = (module.in_channels // module.groups *
                           module.kernel_size[0] * module.kernel_size[1])
            else:
                per_out = module.in_features
            self.macs[name] = self.macs.get(name, 0) + \
                output.numel() * per_out

        return hook

    def total(self, prefix: str = '') -> int:
        """MACs of the modules whose name starts with ``prefix``."""
        return sum(v for k, v in self.macs.items()
                   if k == prefix or k.startswith(prefix))

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()


def lightml_cost(config: str, size: Sequence[int]) -> List[Dict]:
    """Parameters and MACs of every Light-ML module of a student (a
    detector config, or the student of a distillation config) in one
    ``mode='tensor'`` forward of one ``size`` = (H, W) image (eval mode),
    against its head and the whole student."""
    model = build_model(load_config(config))
    model = get_student(model)
    model.init_weights()
    model.eval()
    found = [(n, m) for n, m in model.named_modules()
             if type(m).__name__ == 'LightML']
    if not found:
        raise ValueError(f'--lightml-cost {config}: the student has no '
                         'LightML module (expected a *-lightml_* detector '
                         'or a cid-lightml_* config).')
    counter = MacCounter(model)
    inputs, samples = make_batch(1, tuple(size), infer_num_classes(model),
                                 'cpu')
    with torch.no_grad():
        model(inputs, samples, mode='tensor')
    counter.remove()
    student_macs = counter.total()
    out = []
    for name, module in found:
        head = name.rsplit('.light_ml', 1)[0]
        macs, head_macs = counter.total(name), counter.total(head)
        out.append(dict(
            config=config, input_hw=list(size), lightml_module=name,
            lightml_channels=getattr(module, 'channels', None),
            lightml_params=sum(p.numel() for p in module.parameters()),
            student_params=sum(p.numel() for p in model.parameters()),
            lightml_gmacs=macs / 1e9, head_gmacs=head_macs / 1e9,
            student_gmacs=student_macs / 1e9,
            lightml_pct_of_head=100. * macs / max(head_macs, 1),
            lightml_pct_of_student=100. * macs / max(student_macs, 1)))
    return out


def _compare_key(record: Dict) -> Tuple[str, str, Optional[int]]:
    return (record.get('method') or method_of(record['config']),
            record.get('pair') or pair_of(record['config']),
            record.get('interval'))


def compare_results(before: Dict, after: Dict,
                    tolerance: float = 0.02) -> Dict:
    """Step-cost ratios of two runs of this tool, per (method, pair,
    interval).

    Both runs are compared on the same field: ``ratio_cpu_median`` for a CPU
    run, ``ratio_median`` (wall) for a CUDA run; both exist in the JSON of
    this tool and of its predecessor, so an old checkout's own
    ``benchmark_distill.py --stat median --threads 1`` output can be the
    ``before``.

    Returns:
        dict: ``rows`` (method, pair, interval, before, after, change),
        ``worse`` (rows whose ratio grew by more than ``tolerance``,
        relative), ``unmatched`` (keys in only one run) and ``table``.
    """
    device = after.get('meta', {}).get('env', {}).get('device', 'cpu')
    field = 'ratio_median' if str(device).startswith('cuda') else \
        'ratio_cpu_median'
    old = {_compare_key(r): r for r in before['results'] if field in r}
    new = {_compare_key(r): r for r in after['results'] if field in r}
    rows, worse = [], []
    for key in [k for k in new if k in old]:
        b, a = old[key][field], new[key][field]
        row = dict(method=key[0], pair=key[1], interval=key[2], before=b,
                   after=a, change=a / b - 1)
        rows.append(row)
        if row['change'] > tolerance:
            worse.append(row)
    unmatched = sorted(str(k) for k in set(old) ^ set(new))
    lines = [f'| method | pair | k | before ({field}) | after | change |',
             '|---|---|---|---|---|---|']
    for row in rows:
        flag = ' **worse**' if row in worse else ''
        lines.append(f'| {row["method"]} | {row["pair"]} | '
                     f'{row["interval"] or ""} | {row["before"]:.3f} | '
                     f'{row["after"]:.3f} | {100 * row["change"]:+.1f} %'
                     f'{flag} |')
    return dict(field=field, tolerance=tolerance, rows=rows, worse=worse,
                unmatched=unmatched, table='\n'.join(lines))


def _times(r: Dict, phase: str, clock: str) -> str:
    s = r[phase][clock]
    return f'{s["median"]:.1f} [{s["min"]:.0f}-{s["max"]:.0f}]'


def format_table(results: List[Dict]) -> str:
    """Markdown table of the results (errors get their own rows). Times are
    median [min-max] over the rounds, on each record's ratio clock."""
    ok = [r for r in results if 'error' not in r]
    head = any('teacher_head' in r for r in ok)
    ref = any('reference' in r for r in ok)
    clock = ok[0]['ratio_clock'] if ok else 'cpu_time_ms'
    unit = 'CPU ms' if clock == 'cpu_time_ms' else 'ms'
    cols = ['config', 'method', 'classes', 'T fwd', 'k',
            f'(a) student {unit}', f'(b) teacher {unit}',
            f'(c) distill {unit}', 'ratio c/(a+b)', 'per round',
            'ratio (wall)']
    if head:
        cols += [f"(b') teacher+head {unit}", "ratio c/(a+b')"]
    if ref:
        cols += [f"(a') reference {unit}", "(a)/(a')-1"]
    cols += ['(a) MB', '(b) MB', '(c) MB', 'mem ratio']
    lines = ['| ' + ' | '.join(cols) + ' |', '|' + '---|' * len(cols)]
    for r in results:
        name = osp.splitext(osp.basename(r['config']))[0]
        if 'error' in r:
            lines.append(f'| {name} | {r.get("method", "?")} | '
                         f'ERROR: {r["error"]} |' + ' |' *
                         (len(cols) - 3))
            continue
        clk = r['ratio_clock']
        per_round = r['ratio_cpu_per_round' if clk == 'cpu_time_ms' else
                      'ratio_per_round']
        cells = [name, r['method'], str(r['num_classes']),
                 r['teacher_forward'], str(r.get('interval') or ''),
                 _times(r, 'student', clk), _times(r, 'teacher', clk),
                 _times(r, 'distill', clk), f'**{r["ratio"]:.3f}**',
                 f'{min(per_round):.2f}-{max(per_round):.2f}',
                 f'{r["ratio_median"]:.3f}']
        if head:
            cells += ([_times(r, 'teacher_head', clk),
                       f'{r["ratio_with_head"]:.3f}']
                      if 'teacher_head' in r else ['', ''])
        if ref:
            cells += ([_times(r, 'reference', clk),
                       f'{100 * r["student_vs_reference"]:+.1f} %']
                      if 'reference' in r else ['', ''])
        cells += [f'{r[p]["peak_mem_mb"]:.0f}' for p in PHASES]
        cells.append('n/a' if r['ratio_mem'] is None else
                     f'{r["ratio_mem"]:.2f}')
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def format_breakdown(results: List[Dict]) -> str:
    """Markdown table of the ``--breakdown`` parts (ratio clock, ms)."""
    rows = [r for r in results if 'breakdown' in r]
    if not rows:
        return ''
    lines = ['| config | k | part | ms |', '|---|---|---|---|']
    for r in rows:
        name = osp.splitext(osp.basename(r['config']))[0]
        bd = r['breakdown']
        parts = bd['parts_ms'] if bd['clock'] == 'cpu_time_ms' else \
            bd['parts_wall_ms']
        items = list(parts.items()) + [
            ('KD forward (losses + connectors)', bd['kd_forward_ms']),
            ('KD extra backward', bd['kd_backward_ms']),
            ('**KD total**', bd['kd_ms'])]
        for part, value in items:
            lines.append(f'| {name} | {r.get("interval") or ""} | {part} | '
                         f'{value:.1f} |')
        lines.append(f'| {name} | {r.get("interval") or ""} | KD total / '
                     f'(a) student step | '
                     f'{100 * bd["kd_share_of_student"]:.1f} % |')
    return '\n'.join(lines)


def format_lightml(rows: List[Dict]) -> str:
    """Markdown table of ``--lightml-cost`` records."""
    lines = ['| config | module | Light-ML params | Light-ML GMACs | '
             '% of head MACs | % of student MACs | student GMACs |',
             '|---|---|---|---|---|---|---|']
    for r in rows:
        name = osp.splitext(osp.basename(r['config']))[0]
        if 'error' in r:
            lines.append(f'| {name} | ERROR: {r["error"]} | | | | | |')
            continue
        lines.append(
            f'| {name} | {r["lightml_module"]} | {r["lightml_params"]:,} | '
            f'{r["lightml_gmacs"]:.2f} | {r["lightml_pct_of_head"]:.1f} % | '
            f'{r["lightml_pct_of_student"]:.2f} % | '
            f'{r["student_gmacs"]:.1f} |')
    return '\n'.join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Step-cost ratio (c)/((a)+(b)) of distillation configs: '
        'student step, teacher forward, distillation step; peak memory; '
        'method-specific options (see the module docstring).')
    parser.add_argument('configs', nargs='*', help='distillation configs')
    parser.add_argument(
        '--suite', action='store_true',
        help='benchmark every method config (configs/lsfi_mdc, ds2d2, '
        'cid_lightml, baselines/*: FGD, PKD, CWD, MGD, LD, CrossKD) for '
        'each --pair and --dataset in one run')
    parser.add_argument('--pair', nargs='+',
                        default=['retina-r101_retina-r50'],
                        help='suite: {teacher}_{student} name fields')
    parser.add_argument('--dataset', default='coco',
                        help='suite: dataset name field ("" for any)')
    parser.add_argument('--list', action='store_true',
                        help='print the configs that would run and exit')
    parser.add_argument('--device', default='cpu',
                        help='cpu, cuda or cuda:N')
    parser.add_argument('--input-size', nargs=2, type=int,
                        default=[320, 480], metavar=('H', 'W'),
                        help='padded input size (COCO training: 800 1216)')
    parser.add_argument('--batch-size', type=int, default=2)
    parser.add_argument('--iters', type=int, default=5,
                        help='timed interleaved rounds')
    parser.add_argument('--warmup', type=int, default=2,
                        help='untimed rounds first')
    parser.add_argument('--mem-iters', type=int, default=2,
                        help='CPU: iterations of the RSS pass')
    parser.add_argument(
        '--threads', type=int, default=None,
        help='torch.set_num_threads (default on CPU: 1, part of the ratio '
        'definition; CUDA: torch default)')
    parser.add_argument('--with-head', action='store_true',
                        help="also time (b') the teacher forward with its "
                        "head and report c/(a+b')")
    parser.add_argument(
        '--interval', type=int, nargs='+', default=None, metavar='K',
        help='override the `interval` of the losses that have one (DS2D2 '
        'implicit streams); one run per value, (c) = mean over K '
        'iterations; configs without such a loss run once as configured')
    parser.add_argument('--breakdown', action='store_true',
                        help='also time the parts of the distillation step')
    parser.add_argument('--reference-student', default=None, metavar='CFG',
                        help="plain detector timed as (a') in the same rounds "
                        '(e.g. the student without Light-ML)')
    parser.add_argument(
        '--lightml-cost', nargs='*', default=None, metavar='CFG',
        help='Light-ML params/MACs of these students (no value: the four '
        'Light-ML VisDrone students)')
    parser.add_argument('--flops-size', nargs=2, type=int,
                        default=[800, 1344], metavar=('H', 'W'),
                        help='--lightml-cost input (1333x800 padded to 32)')
    parser.add_argument('--target', type=float, default=None,
                        help='report whether each ratio is <= this value')
    parser.add_argument('--out', default=None,
                        help='JSON output (default work_dirs/benchmark/'
                        'benchmark_distill_<time>.json)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='overrides applied to every config')
    parser.add_argument('--fail-fast', action='store_true',
                        help='stop at the first config that fails')
    parser.add_argument(
        '--repo', default=None, metavar='PATH',
        help='run on another checkout (its mmkd_dense and configs; relative '
        'config paths are read there), e.g. a `git worktree` of an older '
        'commit')
    parser.add_argument('--compare', default=None, metavar='OLD_JSON',
                        help='compare the ratios with an earlier run; exit '
                        'status 1 if one got worse by more than --tolerance')
    parser.add_argument('--tolerance', type=float, default=0.02,
                        help='--compare: allowed relative increase')
    parser.add_argument('--quiet', action='store_true',
                        help='no per-round progress lines')
    args = parser.parse_args(argv)
    if not args.configs and not args.suite and args.lightml_cost is None:
        parser.error('give config files, --suite or --lightml-cost')
    return args


def _run_in_repo(args, argv: Sequence[str]) -> Dict:
    """Re-run this script on ``--repo`` (a fresh process importing that
    checkout's ``mmkd_dense``) and return its JSON output."""
    repo = osp.abspath(args.repo)
    if not osp.isdir(osp.join(repo, 'mmkd_dense')):
        raise SystemExit(f'--repo {args.repo}: no mmkd_dense/ package there '
                         '(expected a checkout of this repository).')
    now = datetime.datetime.now()
    out = osp.abspath(args.out or osp.join(
        'work_dirs', 'benchmark',
        f'benchmark_distill_{now.strftime("%Y%m%d_%H%M%S")}.json'))
    rest, skip = [], 0
    for i, item in enumerate(argv):
        if skip:
            skip -= 1
            continue
        if item in ('--repo', '--out', '--compare'):
            skip = 1
            continue
        if item.startswith(('--repo=', '--out=', '--compare=')):
            continue
        rest.append(item)
    rest += ['--out', out]
    if args.compare:
        rest += ['--compare', osp.abspath(args.compare)]
    env = dict(os.environ, MMKD_DENSE_REPO=repo,
               PYTHONPATH=os.pathsep.join(
                   [repo] + [p for p in [os.environ.get('PYTHONPATH')] if p]))
    _log(f'running on {repo}')
    command = [sys.executable, osp.abspath(__file__)] + rest
    if args.list:
        proc = subprocess.run(command, cwd=repo, env=env, text=True,
                              stdout=subprocess.PIPE)
        print(proc.stdout, end='')
        if proc.returncode:
            raise SystemExit(proc.returncode)
        return dict(configs=[line for line in proc.stdout.splitlines()
                             if line.endswith('.py')])
    status = subprocess.call(command, cwd=repo, env=env)
    if status not in (0, 1) or not osp.isfile(out):
        raise SystemExit(status or 1)
    with open(out) as f:
        return json.load(f)


def _git_commit(repo: str) -> Optional[str]:
    try:
        return subprocess.check_output(
            ['git', '-C', repo, 'rev-parse', 'HEAD'], text=True,
            stderr=subprocess.DEVNULL).strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def main(argv=None) -> Dict:
    """Run the benchmark; returns what is written to the JSON file (plus
    ``table``; ``compare`` holds the comparison with ``--compare``)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.repo and osp.realpath(args.repo) != osp.realpath(REPO_ROOT):
        return _run_in_repo(args, argv)
    threads = args.threads or (None if args.device.startswith('cuda') else 1)
    if threads:
        torch.set_num_threads(threads)
    if args.device.startswith('cuda') and not torch.cuda.is_available():
        raise SystemExit('--device cuda given but CUDA is not available')
    configs = list(args.configs)
    if args.suite:
        for pair in args.pair:
            suite = find_suite_configs(pair, args.dataset or None)
            if not suite:
                raise SystemExit(f'--suite: no config for pair "{pair}" '
                                 f'and dataset "{args.dataset}"')
            configs += [c for c in suite if c not in configs]
    if args.list:
        for config in configs:
            print(config)
        return dict(configs=configs)
    intervals = args.interval or [None]
    jobs = [(c, k) for c in configs for k in intervals]
    results, skipped = [], set()
    for i, (config, interval) in enumerate(jobs):
        if config in skipped:
            continue
        _log(f'[{i + 1}/{len(jobs)}] {config}' +
             ('' if interval is None else f' --interval {interval}'))
        try:
            record = benchmark_config(
                config, device=args.device, input_size=args.input_size,
                batch_size=args.batch_size, iters=args.iters,
                warmup=args.warmup, mem_iters=args.mem_iters,
                cfg_options=args.cfg_options, interval=interval,
                with_head=args.with_head, breakdown=args.breakdown,
                reference_student=args.reference_student,
                progress=not args.quiet)
        except NoIntervalLoss:
            # no interval option: one run as configured for this config
            skipped.add(config)
            _log(f'  no loss with an `interval` option: measured as '
                 'configured, once')
            record = benchmark_config(
                config, device=args.device, input_size=args.input_size,
                batch_size=args.batch_size, iters=args.iters,
                warmup=args.warmup, mem_iters=args.mem_iters,
                cfg_options=args.cfg_options, with_head=args.with_head,
                breakdown=args.breakdown,
                reference_student=args.reference_student,
                progress=not args.quiet)
        except Exception as err:  # keep going: one broken config
            if args.fail_fast:
                raise
            record = dict(config=config, method=method_of(config),
                          pair=pair_of(config), interval=interval,
                          error=f'{type(err).__name__}: {err}'.splitlines()[0])
        if args.target is not None and 'ratio' in record:
            record['target'] = args.target
            record['meets_target'] = record['ratio'] <= args.target
        if 'ratio' in record:
            _log(f'  ratio {record["ratio"]:.3f}' + (
                f', with head {record["ratio_with_head"]:.3f}'
                if 'ratio_with_head' in record else ''))
        results.append(record)
    lightml = []
    for config in ([] if args.lightml_cost is None else
                   (args.lightml_cost or LIGHTML_STUDENTS)):
        _log(f'Light-ML cost of {config}')
        try:
            lightml += lightml_cost(config, args.flops_size)
        except Exception as err:
            if args.fail_fast:
                raise
            lightml.append(dict(config=config, error=f'{type(err).__name__}'
                                f': {err}'.splitlines()[0]))
    now = datetime.datetime.now()
    import mmkd_dense
    output = dict(
        meta=dict(
            date=now.isoformat(timespec='seconds'),
            command='python tools/analysis_tools/benchmark_distill.py ' +
            ' '.join(argv),
            repo=REPO_ROOT, commit=_git_commit(REPO_ROOT),
            mmkd_dense=osp.dirname(osp.abspath(mmkd_dense.__file__)),
            input_size=list(args.input_size), batch_size=args.batch_size,
            iters=args.iters, warmup=args.warmup,
            ratio='median(c) / (median(a) + median(b)) over interleaved '
            'rounds, ' + ('CPU time' if ratio_clock(args.device) ==
                          'cpu_time_ms' else 'wall time'),
            memory_metric=('cuda_max_memory_allocated_delta'
                           if args.device.startswith('cuda') else
                           'cpu_rss_peak_delta'),
            env=env_summary(args.device)),
        results=results)
    if lightml:
        output['lightml'] = lightml
    tables = [format_table(results)] if results else []
    if any('breakdown' in r for r in results):
        tables.append(format_breakdown(results))
    if lightml:
        tables.append(format_lightml(lightml))
    if args.compare:
        with open(args.compare) as f:
            output['compare'] = compare_results(json.load(f), output,
                                                args.tolerance)
        tables.append(output['compare']['table'])
    table = '\n\n'.join(tables)
    print(table)
    out = args.out or osp.join(
        'work_dirs', 'benchmark',
        f'benchmark_distill_{now.strftime("%Y%m%d_%H%M%S")}.json')
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    with open(out, 'w') as f:
        json.dump(output, f, indent=2)
    _log(f'wrote {out}')
    if args.compare and output['compare']['worse']:
        _log(f'{len(output["compare"]["worse"])} ratio(s) worse than the '
             f'earlier run by more than {100 * args.tolerance:g} %')
    output['table'] = table
    return output


if __name__ == '__main__':
    result = main()
    sys.exit(1 if result.get('compare', {}).get('worse') else 0)
