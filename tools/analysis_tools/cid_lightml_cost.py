# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Cost of CID + Light-ML: Light-ML parameters/FLOPs and the training-step
overhead of the distillation over the student alone.

1. Light-ML params and MACs (multiply-accumulates; FLOPs = 2 x MACs) in each
   Light-ML student of ``configs/detectors/*/*-lightml_*_visdrone.py``,
   measured with forward hooks on every ``Conv2d``/``Linear`` during one
   ``mode='tensor'`` forward at the drone test size (default 800 x 1344 =
   1333 x 800 padded to 32), compared with the whole student and its head.
2. Training-step time (forward + backward, no optimiser step) on synthetic
   batches for the main pair (GFL R101 -> R18):
   (a) the plain student ``gfl_r18_fpn_15e_visdrone``,
   (a') the Light-ML student,
   (b) the teacher forward as the algorithm runs it (backbone + neck),
   (c) the full CID + Light-ML step,
   (d) the CID loss alone (teacher head on recorded features, CID weights,
       KD terms; forward only),
   and ratios (c) / ((a) + (b)) and (c) / (a).
3. ``--breakdown``: the parts of one distillation step timed separately
   (teacher backbone + neck, student forward, CID loss forward, backward of
   the task loss alone and of task + CID loss), medians over ``--iters``
   after one warm-up; robust to a busy CPU because each part is short.

Example::

    python tools/analysis_tools/cid_lightml_cost.py \
        --time-size 512 832 --batch-size 2 --iters 3 --warmup 1 \
        --out work_dirs/cid_lightml_cost.json
"""
import argparse
import json
import os
import os.path as osp
import sys
from typing import Dict, Tuple

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from analysis_utils import (build_model, env_summary, get_student,  # noqa
                            load_config, make_batch, sum_losses)
from benchmark_distill import benchmark_config, measure  # noqa: E402

from mmkd_dense.models.connectors import LightML  # noqa: E402

STUDENTS = {
    'GFL R18': 'configs/detectors/gfl/gfl-lightml_r18_fpn_15e_visdrone.py',
    'RetinaNet R18': 'configs/detectors/retinanet/'
    'retinanet-lightml_r18_fpn_15e_visdrone.py',
    'FCOS R18': 'configs/detectors/fcos/'
    'fcos-lightml_r18_fpn_gn-head_15e_visdrone.py',
    'Faster R-CNN R18': 'configs/detectors/faster_rcnn/'
    'faster-rcnn-lightml_r18_fpn_15e_visdrone.py',
}
MAIN = 'configs/cid_lightml/cid-lightml_head_gfl-r101_gfl-r18_15e_visdrone.py'
PLAIN_STUDENT = 'configs/detectors/gfl/gfl_r18_fpn_15e_visdrone.py'


class MacCounter:
    """Count Conv2d/Linear MACs per module prefix with forward hooks."""

    def __init__(self, model: nn.Module) -> None:
        self.macs: Dict[str, int] = {}
        self.handles = []
        for name, module in model.named_modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                self.handles.append(
                    module.register_forward_hook(self._hook(name)))

    def _hook(self, name: str):
        def hook(module, inputs, output):
            if isinstance(module, nn.Conv2d):
                k = module.kernel_size[0] * module.kernel_size[1]
                per_out = module.in_channels // module.groups * k
            else:
                per_out = module.in_features
            self.macs[name] = self.macs.get(name, 0) + \
                output.numel() * per_out
        return hook

    def total(self, prefix: str = '') -> int:
        return sum(v for k, v in self.macs.items() if k.startswith(prefix))

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


def lightml_cost(name: str, path: str, size: Tuple[int, int]) -> Dict:
    """Params/MACs of Light-ML inside one student at one input size."""
    model = build_model(load_config(path))
    model.init_weights()
    model.eval()
    lml_name, lml = next((n, m) for n, m in model.named_modules()
                         if isinstance(m, LightML))
    head_prefix = lml_name.rsplit('.light_ml', 1)[0]
    counter = MacCounter(model)
    inputs, samples = make_batch(1, size, 10, 'cpu')
    with torch.no_grad():
        model(inputs, samples, mode='tensor')
    counter.remove()
    lml_macs = counter.total(lml_name)
    return dict(
        student=name, config=path, input_hw=list(size),
        lightml_module=lml_name, lightml_channels=lml.channels,
        lightml_params=sum(p.numel() for p in lml.parameters()),
        student_params=sum(p.numel() for p in model.parameters()),
        lightml_gmacs=lml_macs / 1e9,
        head_gmacs=counter.total(head_prefix) / 1e9,
        student_gmacs=counter.total() / 1e9,
        lightml_pct_of_head=100. * lml_macs / max(
            counter.total(head_prefix), 1),
        lightml_pct_of_student=100. * lml_macs / max(counter.total(), 1))


def step_times(size: Tuple[int, int], batch_size: int, iters: int,
               warmup: int) -> Dict:
    """(a), (a'), (b), (c), (d) of the main GFL pair."""
    record = benchmark_config(MAIN, 'cpu', size, batch_size, iters, warmup,
                              mem_iters=1)
    out = dict(
        input_hw=list(size), batch_size=batch_size, iters=iters,
        lightml_student_ms=record['student']['time_ms'],
        teacher_ms=record['teacher']['time_ms'],
        distill_ms=record['distill']['time_ms'],
        ratio_c_over_a_plus_b=record['ratio'])

    # (a) the plain student (no Light-ML)
    plain = build_model(load_config(PLAIN_STUDENT))
    plain.train()
    inputs, samples = make_batch(batch_size, size, 10, 'cpu')
    params = [p for p in plain.parameters() if p.requires_grad]

    def zero():
        for p in params:
            p.grad = None

    out['plain_student_ms'] = measure(
        lambda: sum_losses(plain.loss(inputs, samples)).backward(), 'cpu',
        iters, warmup, before=zero, mem_iters=1)['time_ms']
    del plain

    # (d) the CID loss alone, on recorded tensors of one step
    model = build_model(load_config(MAIN))
    model.train()
    model.loss(inputs, samples)  # fills the recorders
    from mmkd_dense.structures import DistillBatchContext

    def cid_only():
        # a fresh context per call: CID weights are rebuilt as in training
        context = DistillBatchContext.from_data_samples(
            samples, inputs, student=get_student(model),
            teacher=model.teacher)
        model.distiller.set_batch_context(context)
        with torch.no_grad():
            model.distiller.compute_distill_losses()
        model.distiller.set_batch_context(None)

    out['cid_loss_ms'] = measure(cid_only, 'cpu', iters, warmup,
                                 mem_iters=1)['time_ms']
    mean = lambda k: out[k]['mean']  # noqa: E731
    out['ratio_c_over_a'] = mean('distill_ms') / mean('plain_student_ms')
    out['lightml_step_overhead_pct'] = 100. * (
        mean('lightml_student_ms') / mean('plain_student_ms') - 1)
    return out


def step_breakdown(size: Tuple[int, int], batch_size: int,
                   iters: int) -> Dict:
    """Median time (ms) of each part of one CID + Light-ML step."""
    import time

    from mmkd_dense.structures import DistillBatchContext
    model = build_model(load_config(MAIN))
    model.train()
    inputs, samples = make_batch(batch_size, size, 10, 'cpu')
    times: Dict[str, list] = {}

    def timed(key, fn):
        start = time.perf_counter()
        out = fn()
        times.setdefault(key, []).append(
            (time.perf_counter() - start) * 1000.)
        return out

    def student_fwd():
        with model.distiller.student_recorders, model.distiller.deliveries:
            return model.student(inputs, samples, mode='loss')

    def cid_fwd():
        context = DistillBatchContext.from_data_samples(
            samples, inputs, student=model.student, teacher=model.teacher)
        model.distiller.set_batch_context(context)
        losses = model.distiller.compute_distill_losses()
        model.distiller.set_batch_context(None)
        return losses

    for _ in range(iters + 1):
        model.zero_grad(set_to_none=True)
        timed('teacher_feat', lambda: model._run_teacher(inputs, samples))
        task = timed('student_fwd', student_fwd)
        kd = timed('cid_loss_fwd', cid_fwd)
        timed('bwd_task_only',
              lambda: sum_losses(task).backward(retain_graph=True))
        model.zero_grad(set_to_none=True)
        timed('bwd_task_plus_cid', lambda: (sum_losses(task) + sum(
            kd.values())).backward())
    out = dict(input_hw=list(size), batch_size=batch_size, iters=iters)
    for key, values in times.items():
        values = sorted(values[1:])  # drop the warm-up
        out[key] = values[len(values) // 2]
    plain = out['student_fwd'] + out['bwd_task_only']
    step = (out['teacher_feat'] + out['student_fwd'] + out['cid_loss_fwd'] +
            out['bwd_task_plus_cid'])
    out['student_step_ms'] = plain
    out['distill_step_ms'] = step
    out['ratio_step_over_student_plus_teacher'] = step / (
        plain + out['teacher_feat'])
    out['ratio_step_over_student'] = step / plain
    return out


def main(argv=None) -> Dict:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--flops-size', type=int, nargs=2,
                        default=(800, 1344), help='H W for the MAC count')
    parser.add_argument('--time-size', type=int, nargs=2, default=(512, 832),
                        help='H W of the timed batches')
    parser.add_argument('--batch-size', type=int, default=2)
    parser.add_argument('--iters', type=int, default=3)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--skip-flops', action='store_true')
    parser.add_argument('--skip-timing', action='store_true')
    parser.add_argument('--breakdown', action='store_true',
                        help='also time the parts of one step')
    parser.add_argument('--breakdown-size', type=int, nargs=2,
                        default=(256, 416))
    parser.add_argument('--out', default=None, help='json output file')
    args = parser.parse_args(argv)
    import logging

    from mmengine.logging import MMLogger
    MMLogger.get_current_instance().setLevel(logging.WARNING)
    torch.manual_seed(0)
    result = dict(env=env_summary('cpu'), lightml=[])
    for name, path in ({} if args.skip_flops else STUDENTS).items():
        cost = lightml_cost(name, path, tuple(args.flops_size))
        result['lightml'].append(cost)
        print(f'{name:17s} Light-ML {cost["lightml_params"] / 1e6:.3f} M '
              f'params, {cost["lightml_gmacs"]:.2f} GMACs '
              f'({cost["lightml_pct_of_head"]:.1f}% of head '
              f'{cost["head_gmacs"]:.1f}, '
              f'{cost["lightml_pct_of_student"]:.2f}% of student '
              f'{cost["student_gmacs"]:.1f}) at {args.flops_size}',
              flush=True)
    if not args.skip_timing:
        times = step_times(tuple(args.time_size), args.batch_size,
                           args.iters, args.warmup)
        result['timing'] = times
        for key in ('plain_student_ms', 'lightml_student_ms', 'teacher_ms',
                    'distill_ms', 'cid_loss_ms'):
            t = times[key]
            print(f'{key:20s} {t["mean"]:9.1f} ± {t["std"]:.1f} ms')
        print(f'(c)/((a\')+(b)) = {times["ratio_c_over_a_plus_b"]:.3f}, '
              f'(c)/(a) = {times["ratio_c_over_a"]:.3f}, Light-ML step '
              f'overhead {times["lightml_step_overhead_pct"]:.1f}%')
    if args.breakdown:
        parts = step_breakdown(tuple(args.breakdown_size), args.batch_size,
                               max(args.iters, 3))
        result['breakdown'] = parts
        for key, value in parts.items():
            if isinstance(value, float):
                print(f'{key:38s} {value:10.3f}')
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump(result, f, indent=2)
    return result


if __name__ == '__main__':
    main()
