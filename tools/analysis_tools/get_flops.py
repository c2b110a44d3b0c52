# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Parameters and FLOPs of the teacher, the student and the KD modules.

Counts are made with ``mmengine.analysis.FlopAnalyzer`` (fvcore rules: one
fused multiply-add = one FLOP, i.e. the numbers are MACs, as in mmdet's
``get_flops.py``) on a synthetic ``(1, 3, H, W)`` input:

- detectors (teacher, student): the ``mode='tensor'`` forward (backbone,
  neck and head, no post-processing), with a per-part breakdown;
- mmkd_dense modules built into a detector (e.g. Light-ML inside the
  student head; kept at inference), measured on the inputs they receive in
  that forward;
- the distiller's connectors and KD losses that own parameters or run
  networks (adapters, context blocks, generators, amplifier heads: training
  only), measured on the inputs they receive in one ``model.loss`` step.
  Element-wise work (most of a feature-KD loss) has no multiply-adds and
  is not counted.

Example::

    python tools/analysis_tools/get_flops.py \
        configs/baselines/mgd/mgd_fpn_retina-r101_retina-r50_2x_coco.py \
        --input-size 800 1216
"""
import argparse
import json
import os
import os.path as osp
import sys
from typing import Any, Dict, List, Optional, Tuple

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

import torch  # noqa: E402
from mmengine.config import DictAction  # noqa: E402
from torch import nn  # noqa: E402

from analysis_utils import (build_model, get_distiller,  # noqa: E402
                            get_student, get_teacher, infer_num_classes,
                            is_distill_model, load_config, make_batch)

__all__ = ['complexity_rows', 'format_table', 'main']


class _KwargsForward(nn.Module):
    """Wraps ``module(*args, **kwargs)`` so that only tensors are traced
    inputs and every other argument is a constant of the trace."""

    def __init__(self, module: nn.Module, args: tuple, kwargs: dict) -> None:
        super().__init__()
        self.module = module
        self._args = list(args)
        self._kwargs = dict(kwargs)
        self.tensor_slots: List[Tuple[str, Any]] = []
        for i, a in enumerate(self._args):
            if isinstance(a, torch.Tensor):
                self.tensor_slots.append(('arg', i))
        for k, v in self._kwargs.items():
            if isinstance(v, torch.Tensor):
                self.tensor_slots.append(('kw', k))

    def tensors(self) -> tuple:
        return tuple(self._args[i] if kind == 'arg' else self._kwargs[i]
                     for kind, i in self.tensor_slots)

    def forward(self, *tensors):
        args, kwargs = list(self._args), dict(self._kwargs)
        for (kind, key), t in zip(self.tensor_slots, tensors):
            if kind == 'arg':
                args[key] = t
            else:
                kwargs[key] = t
        return self.module(*args, **kwargs)


class _TensorModeForward(nn.Module):
    """``detector(inputs, data_samples, mode='tensor')`` as one-input fn."""

    def __init__(self, detector: nn.Module, samples: list) -> None:
        super().__init__()
        self.detector = detector
        self._samples = samples

    def forward(self, inputs):
        return self.detector(inputs, self._samples, mode='tensor')


def _analyze(module: nn.Module, inputs: tuple):
    """(flops, analyzer) or (None, None) if the trace fails."""
    from mmengine.analysis import FlopAnalyzer
    try:
        analyzer = FlopAnalyzer(module, inputs)
        analyzer.unsupported_ops_warnings(False)
        analyzer.uncalled_modules_warnings(False)
        analyzer.tracer_warnings('none')
        return analyzer.total(), analyzer
    except Exception:  # noqa: BLE001 - untraceable module: params only
        return None, None


def _capture_calls(modules: Dict[str, nn.Module], run) -> Dict:
    """Run ``run()`` and return, for each module, the ``(args, kwargs)`` of
    every call (a head module runs once per FPN level)."""
    captured: Dict[str, List[Tuple[tuple, dict]]] = {}
    handles = []
    for name, module in modules.items():

        def hook(mod, args, kwargs, name=name):
            captured.setdefault(name, []).append((args, kwargs))

        handles.append(
            module.register_forward_pre_hook(hook, with_kwargs=True))
    try:
        run()
    finally:
        for h in handles:
            h.remove()
    return captured


def _calls_flops(module: nn.Module, calls) -> Optional[int]:
    """FLOPs summed over the captured calls (None if any is untraceable)."""
    if not calls:
        return None
    total = 0
    for args, kwargs in calls:
        wrapped = _KwargsForward(module, args, kwargs)
        flops, _ = _analyze(wrapped, wrapped.tensors())
        if flops is None:
            return None
        total += flops
    return total


def _own_modules(detector: nn.Module) -> Dict[str, nn.Module]:
    """Outermost modules that mmkd_dense adds to a detector (e.g. Light-ML
    inside a ``LightML*Head``); subclasses of mmdet modules (the head
    itself) are looked into, not reported."""
    found: Dict[str, nn.Module] = {}
    for name, module in detector.named_modules():
        if not name or any(name.startswith(f'{p}.') for p in found):
            continue
        mro = [c.__module__ for c in type(module).__mro__]
        if mro[0].startswith('mmkd_dense') and not any(
                m.startswith('mmdet.') for m in mro):
            found[name] = module
    return found


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def detector_rows(name: str, detector: nn.Module, inputs, samples,
                  kept: bool) -> List[Dict]:
    """Rows for a detector: total, its top-level parts and its mmkd_dense
    submodules."""
    wrapper = _TensorModeForward(detector, samples)
    total, analyzer = _analyze(wrapper, (inputs, ))
    rows = [dict(module=name, params=_count(detector), flops=total,
                 inference=kept)]
    by_module = analyzer.by_module() if analyzer is not None else {}
    for child, module in detector.named_children():
        if child == 'data_preprocessor':
            continue
        rows.append(dict(module=f'{name}.{child}', params=_count(module),
                         flops=by_module.get(f'detector.{child}'),
                         inference=kept))
    own = _own_modules(detector)
    if own:
        calls = _capture_calls(
            own, lambda: detector(inputs, samples, mode='tensor'))
        for mod_name, module in own.items():
            flops = _calls_flops(module, calls.get(mod_name))
            rows.append(dict(module=f'{name}.{mod_name}',
                             params=_count(module), flops=flops,
                             inference=kept))
    return rows


def distiller_rows(model: nn.Module, inputs, samples) -> List[Dict]:
    """Rows for the distiller's connectors and KD losses.

    Connectors and losses that own parameters are always listed; a loss
    without parameters is listed when its forward has multiply-adds (e.g.
    DS2D2's full-frequency amplifier runs the frozen teacher head on the
    student features inside the loss).
    """
    distiller = get_distiller(model)
    if distiller is None:
        return []
    modules: Dict[str, nn.Module] = {}
    for name, conn in getattr(distiller, 'connectors', {}).items():
        modules[f'distiller.connectors.{name}'] = conn
    for name, loss in getattr(distiller, 'distill_losses', {}).items():
        modules[f'distiller.distill_losses.{name}'] = loss
    if not modules:
        return []
    model.train()
    with torch.no_grad():
        calls = _capture_calls(
            modules, lambda: model.loss(inputs, samples))
    rows = []
    for name, module in modules.items():
        with torch.no_grad():
            flops = _calls_flops(module, calls.get(name))
        params = _count(module)
        if '.distill_losses.' in name and params == 0 and not flops:
            continue
        rows.append(dict(module=name, params=params, flops=flops,
                         inference=False))
    return rows


def complexity_rows(config: str,
                    input_size: Tuple[int, int] = (800, 1216),
                    cfg_options: Optional[Dict] = None,
                    device: str = 'cpu') -> List[Dict]:
    """Params and FLOPs rows of one (distillation or detector) config.

    Returns:
        list[dict]: ``module``, ``params`` (int), ``flops`` (int or None
        when the module cannot be traced), ``inference`` (kept in the
        deployed student).
    """
    cfg = load_config(config, cfg_options)
    model = build_model(cfg, device)
    student = get_student(model)
    num_classes = infer_num_classes(student)
    inputs, samples = make_batch(1, input_size, num_classes, device)
    rows: List[Dict] = []
    model.eval()
    with torch.no_grad():
        if is_distill_model(model):
            rows += detector_rows('teacher', get_teacher(model), inputs,
                                  samples, kept=False)
            rows += detector_rows('student', student, inputs, samples,
                                  kept=True)
        else:
            rows += detector_rows('model', model, inputs, samples,
                                  kept=True)
    rows += distiller_rows(model, inputs, samples)
    return rows


def _fmt(value: Optional[float], scale: float) -> str:
    return 'n/a' if value is None else f'{value / scale:.4g}'


def format_table(rows: List[Dict], input_size) -> str:
    """Markdown table: module, params (M), FLOPs (G), kept at inference."""
    lines = [f'| module | params (M) | FLOPs (G) @{input_size[0]}x'
             f'{input_size[1]} | at inference |', '|---|---|---|---|']
    for r in rows:
        lines.append(f'| {r["module"]} | {_fmt(r["params"], 1e6)} | '
                     f'{_fmt(r["flops"], 1e9)} | '
                     f'{"yes" if r["inference"] else "no"} |')
    return '\n'.join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Params and FLOPs of teacher, student and KD modules')
    parser.add_argument('config', help='distillation or detector config')
    parser.add_argument('--input-size', nargs=2, type=int,
                        default=[800, 1216], metavar=('H', 'W'),
                        help='padded input size')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--out', help='also write the rows as JSON')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


def main(argv=None) -> Dict:
    """Print the table; returns ``dict(rows=..., table=...)``."""
    args = parse_args(argv)
    rows = complexity_rows(args.config, tuple(args.input_size),
                           args.cfg_options, args.device)
    table = format_table(rows, args.input_size)
    print(f'{args.config}  (FLOPs = multiply-adds, fvcore convention; '
          'n/a = not traceable)')
    print(table)
    result = dict(config=args.config, input_size=list(args.input_size),
                  rows=rows)
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump(result, f, indent=2)
    result['table'] = table
    return result


if __name__ == '__main__':
    main()
