# Copyright (c) mmkd_dense contributors. All rights reserved.
"""One-command GPU check: AMP training steps, KD overhead and peak memory of
every method's paper config.

For each method (its paper config, teacher and student with **random
weights**: no teacher checkpoint, no ImageNet file, no dataset) it runs on
synthetic batches at the paper's input size (default 2 x 3 x 800 x 1333, COCO
training size):

1. ``--iters`` mixed-precision training iterations as ``tools/train.py
   --amp`` runs them (mmengine ``AmpOptimWrapper`` semantics): forward and
   loss under ``torch.autocast`` (float16 on CUDA, bfloat16 on CPU with the
   float32 RoIAlign / NMS shims of ``mmkd_dense.utils.amp``), on CUDA a
   dynamic ``GradScaler`` (initial scale 2**16) that skips a step whose
   gradients are not finite, gradient clipping as configured, SGD with the
   config's lr / momentum / weight decay. Recorded: time per iteration, peak
   memory, loss values, steps skipped by the scaler, whether every loss and
   gradient was finite.
2. The overhead suite of ``benchmark_distill.py`` (its
   :func:`measure_phases`, same autocast): (a) the student's own training
   step, (b) the teacher forward as the algorithm runs it, (c) the whole
   distillation step, and ``ratio = (c) / ((a) + (b))``.

Peak memory is ``torch.cuda.max_memory_allocated`` on CUDA (total, model
included) and the peak resident-set-size above the start on CPU.

On CPU keep the input above 64 px on at least one side (``--tiny``: 64 x
96): with a 1 x 1 P6 map the P7 conv (3x3, stride 2) runs on a 1 x 1 input,
and torch 2.13's CPU bfloat16 convolution returns a wrong, often non-finite,
weight gradient for that case (a torch bug, not one of the methods).

It writes ``gpu_check.json`` and ``gpu_check.md`` (a markdown table headed by
the device name) to ``--out-dir`` and exits with 1 if any method failed:
an exception, a non-finite loss, non-finite gradients (bfloat16) or every
step skipped by the grad scaler (float16).

Examples::

    # on a CUDA machine
    python tools/analysis_tools/gpu_check.py --out-dir work_dirs/gpu_check
    # CPU smoke run of the same code path (bfloat16 autocast, tiny inputs)
    python tools/analysis_tools/gpu_check.py --device cpu --tiny \\
        --methods lsfi_mdc fgd
"""
import argparse
import contextlib
import copy
import datetime
import json
import math
import os
import os.path as osp
import sys
import time
import traceback
from collections import OrderedDict
from typing import Callable, Dict, List, Optional, Sequence

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

import torch  # noqa: E402

from analysis_utils import (  # noqa: E402
    drop_missing_checkpoints, env_summary, get_student, get_teacher,
    infer_num_classes, load_config, make_batch, sum_losses, teacher_forward_fn,
    teacher_forward_mode)
from benchmark_distill import (  # noqa: E402
    RssPeakSampler, measure_phases, ratio_clock, release_free_memory,
    step_cost_ratio)

__all__ = ['METHOD_CONFIGS', 'build_random_model', 'amp_train_steps',
           'check_method', 'format_markdown', 'main']

#: method -> its paper config (the detector pair of the paper's main table)
METHOD_CONFIGS = OrderedDict([
    ('lsfi_mdc',
     'configs/lsfi_mdc/lsfi-mdc_fpn_retina-r101_retina-r50_2x_coco.py'),
    ('ds2d2', 'configs/ds2d2/ds2d2_fpn_retina-r101_retina-r18_2x_dior.py'),
    ('ds2d2_frcnn',
     'configs/ds2d2/ds2d2_fpn_faster-rcnn-r101_faster-rcnn-r18_2x_dior.py'),
    ('cid_lightml',
     'configs/cid_lightml/cid-lightml_head_gfl-r101_gfl-r18_15e_visdrone.py'),
    ('fgd', 'configs/baselines/fgd/fgd_fpn_retina-r101_retina-r50_2x_coco.py'),
    ('pkd', 'configs/baselines/pkd/pkd_fpn_retina-r101_retina-r50_2x_coco.py'),
    ('cwd', 'configs/baselines/cwd/cwd_fpn_retina-r101_retina-r50_2x_coco.py'),
    ('mgd', 'configs/baselines/mgd/mgd_fpn_retina-r101_retina-r50_2x_coco.py'),
    ('ld', 'configs/baselines/ld/ld_head_gfl-r101_gfl-r50_1x_coco.py'),
    ('crosskd', 'configs/baselines/crosskd/'
     'crosskd_head_retina-r101_retina-r50_2x_coco.py'),
])

#: ``--tiny`` settings: a CPU smoke run of the same code path
TINY = dict(input_size=(64, 96), batch_size=2, iters=2, warmup=1,
            bench_iters=1, bench_warmup=0)


def _disable_pretrained(node) -> None:
    """Set every ``init_cfg`` that loads weights (``type='Pretrained'``:
    ImageNet backbones, student parts initialised from the teacher) to None,
    in place."""
    if isinstance(node, dict):
        for key in list(node):
            value = node[key]
            if key == 'init_cfg' and _loads_weights(value):
                node[key] = None
            else:
                _disable_pretrained(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _disable_pretrained(value)


def _loads_weights(init_cfg) -> bool:
    items = init_cfg if isinstance(init_cfg, (list, tuple)) else [init_cfg]
    return any(isinstance(i, dict) and i.get('type') == 'Pretrained'
               for i in items)


def build_random_model(config: str, device: str) -> tuple:
    """Build a distillation config with random teacher and student weights.

    The teacher / student given as ``dict(cfg_file=...)`` are expanded,
    every ``Pretrained`` init is switched off, missing ``*_ckpt`` files
    (e.g. a DS2D2 amplifier) are dropped and the teacher stays random
    (``allow_random_teacher=True``). Nothing is read from disk but configs.

    Args:
        config (str): distillation config path.
        device (str): ``'cpu'`` or ``'cuda[:i]'``.

    Returns:
        tuple: the algorithm (train mode, on ``device``) and the loaded
        config (for the optimiser settings).
    """
    from mmkd_dense.models.algorithms.gt_aware_distill import \
        resolve_detector_cfg
    from mmkd_dense.testing import build_model_from_cfg
    cfg = load_config(config)
    cfg = copy.deepcopy(cfg)
    model_cfg = cfg.model
    for key in ('teacher', 'architecture'):
        sub = model_cfg.get(key)
        if isinstance(sub, dict) and 'cfg_file' in sub:
            model_cfg[key] = resolve_detector_cfg(sub, key=f'model.{key}')
    _disable_pretrained(model_cfg)
    drop_missing_checkpoints(model_cfg)
    model_cfg['teacher_ckpt'] = None
    model_cfg['allow_random_teacher'] = True
    model = build_model_from_cfg(cfg)
    model.to(device)
    model.train()
    return model, cfg


def _amp_dtype(device: str) -> torch.dtype:
    return torch.float16 if device.startswith('cuda') else torch.bfloat16


def _autocast(device: str):
    return torch.autocast(device_type='cuda' if device.startswith('cuda')
                          else 'cpu', dtype=_amp_dtype(device))


def _sync(device: str) -> None:
    if device.startswith('cuda'):
        torch.cuda.synchronize(torch.device(device))


def _optimizer(model: torch.nn.Module, cfg) -> tuple:
    """SGD with the config's settings; returns ``(optimizer, max_norm)``."""
    wrapper = cfg.get('optim_wrapper', {}) or {}
    opt_cfg = wrapper.get('optimizer', {}) or {}
    clip = wrapper.get('clip_grad') or {}
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(
        params, lr=float(opt_cfg.get('lr', 0.01)),
        momentum=float(opt_cfg.get('momentum', 0.9)),
        weight_decay=float(opt_cfg.get('weight_decay', 1e-4)))
    return optimizer, clip.get('max_norm')


def amp_train_steps(model: torch.nn.Module, cfg, device: str, inputs,
                    samples, iters: int, warmup: int) -> Dict:
    """Mixed-precision training iterations (``AmpOptimWrapper`` semantics).

    Returns:
        dict: ``amp_dtype``, ``iter_ms`` (mean of the timed iterations),
        ``peak_mem_mb``, ``losses`` (total loss per iteration),
        ``skipped_steps`` (steps the CUDA grad scaler skipped),
        ``nonfinite_grad_steps`` (steps with a non-finite unscaled
        gradient; on CUDA exactly the skipped ones), ``loss_finite``,
        ``loss_scale`` (final; CUDA).
    """
    cuda = device.startswith('cuda')
    optimizer, max_norm = _optimizer(model, cfg)
    params = [p for group in optimizer.param_groups for p in group['params']]
    scaler = torch.amp.GradScaler('cuda', init_scale=2.**16) if cuda \
        else None
    losses: List[float] = []
    times: List[float] = []
    skipped = nonfinite = 0
    loss_finite = True
    if cuda:
        _sync(device)
        torch.cuda.reset_peak_memory_stats(torch.device(device))
    with (contextlib.nullcontext() if cuda else RssPeakSampler()) as sampler:
        for it in range(warmup + iters):
            optimizer.zero_grad(set_to_none=True)
            start = time.perf_counter()
            with _autocast(device):
                loss = sum_losses(model.loss(inputs, samples))
            value = float(loss.detach().float())
            if not math.isfinite(value):
                loss_finite = False
            if cuda:
                scale = scaler.get_scale()
                scaler.scale(loss).backward()
                scaler.unscale_(optimizer)
            else:
                loss.backward()
            finite = all(bool(torch.isfinite(p.grad).all()) for p in params
                         if p.grad is not None)
            if max_norm is not None:
                torch.nn.utils.clip_grad_norm_(params, max_norm)
            nonfinite += int(not finite)
            if cuda:  # skips the step when a gradient is not finite
                scaler.step(optimizer)
                scaler.update()
                skipped += int(scaler.get_scale() < scale)
            else:  # bfloat16 has float32's range: no scaler (mmengine)
                optimizer.step()
            _sync(device)
            if it >= warmup:
                times.append((time.perf_counter() - start) * 1000.0)
            losses.append(value)
    optimizer.zero_grad(set_to_none=True)
    peak = (torch.cuda.max_memory_allocated(torch.device(device)) / 2**20
            if cuda else sampler.peak_delta / 2**20)
    out = dict(amp_dtype=str(_amp_dtype(device)).replace('torch.', ''),
               iters=iters, warmup=warmup,
               iter_ms=sum(times) / max(len(times), 1), iter_ms_values=times,
               peak_mem_mb=peak,
               peak_mem_metric=('cuda_max_memory_allocated' if cuda else
                                'cpu_rss_peak_delta'),
               losses=losses, loss_finite=loss_finite,
               nonfinite_grad_steps=nonfinite, skipped_steps=skipped)
    if cuda:
        out['loss_scale'] = scaler.get_scale()
    return out


def overhead_suite(model: torch.nn.Module, device: str, inputs, samples,
                   iters: int, warmup: int) -> Dict:
    """(a) student step, (b) teacher forward, (c) distillation step under
    the same autocast, timed by ``benchmark_distill.measure_phases``."""
    student = get_student(model)
    params = [p for p in model.parameters() if p.requires_grad]

    def zero_grad() -> None:
        for p in params:
            p.grad = None

    def step(fn: Callable[[], Dict]) -> Callable[[], None]:
        def run() -> None:
            with _autocast(device):
                loss = sum_losses(fn())
            loss.backward()
        return run

    teacher = teacher_forward_fn(model, inputs, samples)

    def teacher_step() -> None:
        with _autocast(device):
            teacher()

    phases = measure_phases(
        dict(student=step(lambda: student.loss(inputs, samples)),
             teacher=teacher_step,
             distill=step(lambda: model.loss(inputs, samples))),
        device, iters, warmup, before=zero_grad, mem_iters=1)
    zero_grad()
    # the project's step-cost ratio (benchmark_distill.step_cost_ratio):
    # medians of the interleaved rounds, CPU time on CPU, wall on CUDA
    clock = ratio_clock(device)
    a, b, c = (phases[p][clock]['median']
               for p in ('student', 'teacher', 'distill'))
    ma, mb, mc = (phases[p]['peak_mem_mb']
                  for p in ('student', 'teacher', 'distill'))
    return dict(
        student_ms=a, teacher_ms=b, distill_ms=c,
        ratio=step_cost_ratio(phases, device), ratio_clock=clock,
        overhead_ms=c - a - b, student_mem_mb=ma, teacher_mem_mb=mb,
        distill_mem_mb=mc,
        ratio_mem=mc / (ma + mb) if ma + mb > 0 else None,
        memory_metric=phases['distill']['memory_metric'], phases=phases)


def check_method(method: str, config: str, device: str,
                 input_size: Sequence[int], batch_size: int, iters: int,
                 warmup: int, bench_iters: int, bench_warmup: int,
                 overhead: bool = True) -> Dict:
    """Build one paper config with random weights and run both checks."""
    record = dict(method=method, config=config)
    torch.manual_seed(0)
    model, cfg = build_random_model(config, device)
    try:
        student = get_student(model)
        num_classes = infer_num_classes(student)
        inputs, samples = make_batch(batch_size, tuple(input_size),
                                     num_classes, device, seed=0)
        record.update(
            num_classes=num_classes,
            teacher_forward=teacher_forward_mode(model),
            params_m=dict(student=_params(student),
                          teacher=_params(get_teacher(model))))
        record['train'] = amp_train_steps(model, cfg, device, inputs,
                                          samples, iters, warmup)
        if overhead:
            record['overhead'] = overhead_suite(model, device, inputs,
                                                samples, bench_iters,
                                                bench_warmup)
    finally:
        del model
        release_free_memory()
        if device.startswith('cuda'):
            torch.cuda.empty_cache()
    train = record['train']
    problems = []
    if not train['loss_finite']:
        problems.append('non-finite loss')
    steps = train['iters'] + train['warmup']
    if device.startswith('cuda'):
        # a few skips while the dynamic scale settles are normal; all not
        if train['skipped_steps'] >= steps:
            problems.append('every step skipped by the grad scaler')
    elif train['nonfinite_grad_steps']:
        problems.append(f"non-finite gradients in "
                        f"{train['nonfinite_grad_steps']}/{steps} steps")
    record['status'] = 'ok' if not problems else 'FAIL: ' + ', '.join(
        problems)
    return record


def _params(module: Optional[torch.nn.Module]) -> float:
    if module is None:
        return 0.0
    return sum(p.numel() for p in module.parameters()) / 1e6


def format_markdown(output: Dict) -> str:
    """Markdown report: a header line with the device and a table."""
    meta = output['meta']
    env = meta['env']
    device_name = env.get('gpu') or env.get('cpu') or meta['device']
    shape = (f"{meta['batch_size']}x3x{meta['input_size'][0]}x"
             f"{meta['input_size'][1]}")
    lines = [
        f"### GPU check: {device_name}",
        '',
        f"{meta['date']}, device `{meta['device']}`, torch "
        f"{env.get('torch')}, CUDA {meta.get('cuda') or '-'}, input {shape}, "
        f"AMP {meta['amp_dtype']}, {meta['iters']} timed training iterations "
        f"after {meta['warmup']} warm-up, random weights. "
        f"Command: `{meta['command']}`",
        '',
        '| method | config | status | iter ms (AMP) | peak MB | skipped '
        'steps | (a) student ms | (b) teacher ms | (c) distill ms | '
        'c/(a+b) | distill MB |',
        '|---|---|---|---|---|---|---|---|---|---|---|',
    ]
    for r in output['results']:
        name = osp.splitext(osp.basename(r['config']))[0]
        if 'error' in r:
            lines.append(f"| {r['method']} | {name} | ERROR: {r['error']} |"
                         + ' |' * 8)
            continue
        t = r['train']
        o = r.get('overhead')
        cells = [r['method'], name, r['status'], f"{t['iter_ms']:.1f}",
                 f"{t['peak_mem_mb']:.0f}",
                 f"{t['skipped_steps']}/{t['iters'] + t['warmup']}"]
        if o:
            cells += [f"{o['student_ms']:.1f}", f"{o['teacher_ms']:.1f}",
                      f"{o['distill_ms']:.1f}", f"{o['ratio']:.3f}",
                      f"{o['distill_mem_mb']:.0f}"]
        else:
            cells += ['-'] * 5
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='AMP training iterations, KD overhead and peak memory '
        'of every method\'s paper config (random weights, synthetic '
        'batches); writes gpu_check.json and gpu_check.md.')
    parser.add_argument('--device', default=None,
                        help='cuda, cuda:N or cpu (default: cuda; cpu only '
                        'when asked for)')
    parser.add_argument('--methods', nargs='+', default=None,
                        choices=list(METHOD_CONFIGS),
                        help='subset of methods (default: all)')
    parser.add_argument('--tiny', action='store_true',
                        help='tiny inputs and iterations (CPU smoke run): '
                        f"input {TINY['input_size']}, batch "
                        f"{TINY['batch_size']}, {TINY['iters']} iterations")
    parser.add_argument('--input-size', nargs=2, type=int, default=None,
                        metavar=('H', 'W'),
                        help='padded input size (default 800 1333)')
    parser.add_argument('--batch-size', type=int, default=None,
                        help='images per batch (default 2)')
    parser.add_argument('--iters', type=int, default=None,
                        help='timed AMP training iterations (default 5)')
    parser.add_argument('--warmup', type=int, default=None,
                        help='untimed iterations first (default 2)')
    parser.add_argument('--bench-iters', type=int, default=None,
                        help='overhead suite: timed rounds (default 5)')
    parser.add_argument('--bench-warmup', type=int, default=None,
                        help='overhead suite: warm-up rounds (default 2)')
    parser.add_argument('--no-overhead', action='store_true',
                        help='skip the overhead suite')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch.set_num_threads (CPU)')
    parser.add_argument('--out-dir', default='work_dirs/gpu_check',
                        help='where gpu_check.json / gpu_check.md go')
    args = parser.parse_args(argv)
    defaults = TINY if args.tiny else dict(
        input_size=(800, 1333), batch_size=2, iters=5, warmup=2,
        bench_iters=5, bench_warmup=2)
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.device is None:
        args.device = 'cuda'
    for key in ('batch_size', 'iters', 'bench_iters'):
        if getattr(args, key) < 1:
            parser.error(f'--{key.replace("_", "-")} must be >= 1')
    return args


def main(argv=None) -> int:
    """Run the check; returns the exit status (0 = every method ok)."""
    args = parse_args(argv)
    if args.device.startswith('cuda') and not torch.cuda.is_available():
        print('[gpu_check] --device cuda, but torch.cuda.is_available() is '
              'False on this machine (torch '
              f'{torch.__version__}). Run it on a CUDA machine, or run the '
              'CPU smoke path: --device cpu --tiny', file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    import mmkd_dense  # noqa: F401  (registers modules)
    if not args.device.startswith('cuda'):
        # what tools/train.py --amp does on CPU (configure_amp): mmcv's CPU
        # RoIAlign / nms have no bfloat16 kernels, run them in float32
        from mmkd_dense.utils.amp import apply_cpu_bfloat16_shims
        apply_cpu_bfloat16_shims()
    methods = args.methods or list(METHOD_CONFIGS)
    results = []
    for method in methods:
        config = METHOD_CONFIGS[method]
        print(f'[gpu_check] {method}: {config}', flush=True)
        try:
            record = check_method(
                method, config, args.device, args.input_size,
                args.batch_size, args.iters, args.warmup, args.bench_iters,
                args.bench_warmup, overhead=not args.no_overhead)
        except Exception as err:  # report it and go on with the others
            record = dict(method=method, config=config,
                          status='FAIL: exception',
                          error=f'{type(err).__name__}: {err}'
                          .splitlines()[0],
                          traceback=traceback.format_exc())
            print(record['traceback'], file=sys.stderr)
        print(f"[gpu_check] {method}: {record['status']}", flush=True)
        results.append(record)
    now = datetime.datetime.now()
    output = dict(
        meta=dict(
            date=now.isoformat(timespec='seconds'),
            command='python tools/analysis_tools/gpu_check.py ' + ' '.join(
                argv if argv is not None else sys.argv[1:]),
            device=args.device, input_size=list(args.input_size),
            batch_size=args.batch_size, iters=args.iters,
            warmup=args.warmup, bench_iters=args.bench_iters,
            bench_warmup=args.bench_warmup,
            amp_dtype=str(_amp_dtype(args.device)).replace('torch.', ''),
            cuda=torch.version.cuda if args.device.startswith('cuda')
            else None,
            env=env_summary(args.device)),
        results=results)
    os.makedirs(args.out_dir, exist_ok=True)
    json_path = osp.join(args.out_dir, 'gpu_check.json')
    md_path = osp.join(args.out_dir, 'gpu_check.md')
    with open(json_path, 'w') as f:
        json.dump(output, f, indent=2)
    table = format_markdown(output)
    with open(md_path, 'w') as f:
        f.write(table)
    print(table)
    print(f'[gpu_check] wrote {json_path} and {md_path}')
    return 0 if all(r['status'] == 'ok' for r in results) else 1


if __name__ == '__main__':
    sys.exit(main())
