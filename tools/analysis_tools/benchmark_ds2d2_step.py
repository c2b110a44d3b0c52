# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Step-time cost of DS2D2 distillation, with a per-stream breakdown.

For a DS2D2 config it times, on one synthetic batch and interleaved round by
round (so that a busy machine slows every phase alike):

(a) ``student``: the student's own training step (``loss`` + backward);
(b) ``teacher``: the teacher forward the algorithm runs
    (``teacher_forward='feat'``: backbone + neck, no grad);
(c) ``distill``: the full distillation step (``model.loss`` + backward);

and reports ``ratio = (c) / ((a) + (b))`` (target <= 1.35 by default).
For reference it also times (b') ``teacher_full``: the teacher's whole
forward including its head (``mode='tensor'``), and reports
``ratio_full_teacher = (c) / ((a) + (b'))`` -- the cost relative to running
both complete detectors (DS2D2 runs the teacher head on the teacher features
inside its implicit loss, so part of (c) is that head).
With ``--interval K`` the implicit losses run every K-th iteration (their
``interval`` option) and (c) and the breakdown are the mean over K
consecutive iterations, i.e. the average cost of an iteration in training.
With ``--breakdown`` it also times, on recorded features, each KD loss alone
(forward + backward): the explicit stream and the two implicit streams, which
run a whole detection head on the student (forward + input gradient) and on
the teacher (forward) features each.

Checkpoints that do not exist yet (teacher, amplifier) are ignored: the
timing does not depend on the weights.

Example::

    python tools/analysis_tools/benchmark_ds2d2_step.py \
        configs/ds2d2/ds2d2_fpn_retina-r101_retina-r18_2x_dior.py \
        --input-size 320 320 --batch-size 2 --rounds 3 --breakdown
    # implicit stream every 3rd iteration (mean over 3 iterations)
    python tools/analysis_tools/benchmark_ds2d2_step.py \
        configs/ds2d2/ds2d2_fpn_retina-r101_retina-r18_2x_dior.py --interval 3
"""
import argparse
import inspect
import json
import math
import os
import os.path as osp
import sys
import time
from typing import Callable, Dict, List, Optional

import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))

__all__ = ['benchmark_step', 'main']


def _sum_losses(losses: Dict) -> torch.Tensor:
    total = 0.
    for name, value in losses.items():
        if 'loss' not in name:
            continue
        total = total + (sum(value) if isinstance(value, (list, tuple))
                         else value)
    return total


def _median(values: List[float]) -> float:
    ordered = sorted(values)
    n = len(ordered)
    return ordered[n // 2] if n % 2 else 0.5 * (ordered[n // 2 - 1] +
                                                ordered[n // 2])


def _sync(device: str) -> None:
    if device.startswith('cuda'):
        torch.cuda.synchronize()


def _load(config: str, device: str):
    from mmengine.config import Config

    import mmkd_dense  # noqa: F401
    from mmkd_dense.testing import build_model_from_cfg
    cfg = Config.fromfile(config)
    for loss in cfg.model.get('distiller', {}).get('distill_losses',
                                                   {}).values():
        ckpt = loss.get('amplifier_ckpt')
        if ckpt and not osp.isfile(ckpt):
            loss.amplifier_ckpt = None
    ckpt = cfg.model.get('teacher_ckpt')
    model = build_model_from_cfg(
        cfg, drop_teacher_ckpt=not (ckpt and osp.isfile(ckpt)))
    return model.to(device)


def benchmark_step(config: str,
                   input_size=(320, 320),
                   batch_size: int = 2,
                   rounds: int = 3,
                   warmup: int = 1,
                   device: str = 'cpu',
                   breakdown: bool = False,
                   seed: int = 0,
                   interval: Optional[int] = None) -> Dict:
    """Time (a), (b), (c) interleaved; optionally each KD loss alone.

    ``interval`` overrides the ``interval`` of every loss that has one (the
    implicit streams); (c) and the breakdown then average over one cycle of
    iterations (the least common multiple of the intervals).
    """
    from mmkd_dense.models.utils import IterationInterval
    from mmkd_dense.structures import DistillBatchContext
    from mmkd_dense.utils.dummy_batch import make_dummy_batch
    torch.manual_seed(seed)
    model = _load(config, device)
    model.train()
    cycle = 1
    for loss in model.distiller.distill_losses.values():
        if isinstance(getattr(loss, 'schedule', None), IterationInterval):
            if interval is not None:
                loss.schedule = IterationInterval(interval, '--interval')
            cycle = math.lcm(cycle, loss.schedule.interval)
    student, teacher = model.student, model.teacher
    head = getattr(student, 'bbox_head', None)
    num_classes = head.num_classes if head is not None else \
        student.roi_head.bbox_head.num_classes
    inputs, samples = make_dummy_batch(
        num_images=batch_size, input_shape=tuple(input_size),
        num_classes=num_classes, boxes_per_image=(5, 2), seed=seed)
    inputs = inputs.to(device)
    samples = [s.to(device) for s in samples]
    params = [p for p in model.parameters() if p.requires_grad]

    def zero() -> None:
        for p in params:
            p.grad = None

    def student_step() -> None:
        _sum_losses(student.loss(inputs, samples)).backward()

    def teacher_fwd() -> None:
        with torch.no_grad():
            teacher.extract_feat(inputs)

    def distill_step() -> None:
        for _ in range(cycle):
            _sum_losses(model.loss(inputs, samples)).backward()

    def teacher_full_fwd() -> None:
        with torch.no_grad():
            teacher(inputs, samples, mode='tensor')

    phases: Dict[str, Callable[[], None]] = dict(
        student=student_step, teacher=teacher_fwd,
        teacher_full=teacher_full_fwd, distill=distill_step)

    if breakdown:
        with torch.no_grad():
            feats_t = teacher.extract_feat(inputs)
        feats_s = tuple(
            f.detach().requires_grad_() for f in student.extract_feat(inputs))
        for name, loss in model.distiller.distill_losses.items():
            extra = {}
            if 'rpn_results' in inspect.signature(loss.forward).parameters:
                extra['rpn_results'] = None  # recomputed from student RPN

            def run(loss=loss, extra=extra) -> None:
                for _ in range(cycle):
                    ctx = DistillBatchContext.from_data_samples(
                        samples, inputs, student=student, teacher=teacher)
                    value = loss(feats_s, feats_t, ctx, **extra)
                    if value.requires_grad:
                        value.backward()

            phases[f'kd:{name}'] = run

    times: Dict[str, List[float]] = {k: [] for k in phases}
    for r in range(warmup + rounds):
        for name, fn in phases.items():
            zero()
            _sync(device)
            start = time.perf_counter()
            fn()
            _sync(device)
            if r >= warmup:
                per_iter = 1 if name in ('student', 'teacher',
                                         'teacher_full') else cycle
                times[name].append(
                    (time.perf_counter() - start) * 1000 / per_iter)
    zero()
    med = {k: _median(v) for k, v in times.items()}
    result = dict(
        config=config, input_size=list(input_size), batch_size=batch_size,
        rounds=rounds, device=device, threads=torch.get_num_threads(),
        iterations_per_round=cycle,
        median_ms=med, all_ms=times,
        ratio=med['distill'] / (med['student'] + med['teacher']),
        ratio_full_teacher=med['distill'] / (med['student'] +
                                             med['teacher_full']),
        overhead_ms=med['distill'] - med['student'] - med['teacher'])
    return result


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('configs', nargs='+')
    parser.add_argument('--input-size', type=int, nargs=2,
                        default=[320, 320], metavar=('H', 'W'))
    parser.add_argument('--batch-size', type=int, default=2)
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--threads', type=int, default=0)
    parser.add_argument('--breakdown', action='store_true')
    parser.add_argument('--interval', type=int, nargs='+', default=[None],
                        help='override the implicit losses\' interval; '
                        'several values are measured one after the other '
                        '(default: as in the config)')
    parser.add_argument('--target', type=float, default=1.35)
    parser.add_argument('--out', default='')
    return parser.parse_args(argv)


def main(argv=None) -> List[Dict]:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    results = []
    for config, interval in [(c, k) for c in args.configs
                             for k in args.interval]:
        res = benchmark_step(config, args.input_size, args.batch_size,
                             args.rounds, args.warmup, args.device,
                             args.breakdown, interval=interval)
        res['interval'] = interval
        res['target'] = args.target
        res['meets_target'] = res['ratio'] <= args.target
        med = res['median_ms']
        print(f'{osp.basename(config)}  ({args.batch_size} x '
              f'{args.input_size[0]}x{args.input_size[1]}, {args.device}, '
              f'{res["threads"]} threads, median of {args.rounds}, '
              f'(c) = mean over {res["iterations_per_round"]} iteration(s)'
              + ('' if interval is None else f', --interval {interval}') +
              ')')
        for name, value in med.items():
            print(f'  {name:28s} {value:10.1f} ms')
        print(f'  ratio (c)/((a)+(b)) = {res["ratio"]:.3f}  (target <= '
              f'{args.target:g}: '
              f'{"met" if res["meets_target"] else "NOT met"})')
        print(f'  ratio (c)/((a)+(b\')) = {res["ratio_full_teacher"]:.3f}  '
              '(b\' = teacher forward with its head)')
        results.append(res)
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump(results, f, indent=2)
    return results


if __name__ == '__main__':
    main()
