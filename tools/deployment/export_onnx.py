# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Export the student of a distillation (or plain) checkpoint to ONNX.

    python tools/deployment/export_onnx.py CONFIG CHECKPOINT --out student.onnx
        [--input-size H W] [--dynamic] [--opset 17] [--cfg-options ...]

CONFIG is the distillation config the checkpoint was trained with (its
``model.architecture`` is the student) or a plain detector config (e.g. the
one written by ``tools/model_converters/extract_student.py``). The graph
holds backbone, neck and dense head (RetinaNet, FCOS, GFL, Light-ML heads
included) and returns the raw per-level head outputs; post-processing
(decoding, NMS) stays with mmdet and is run by
``tools/deployment/test_onnx.py``. See docs/deployment.md.

Without ``--dynamic`` the input size is fixed: ``--input-size`` or, by
default, the test pipeline's ``Resize`` scale rounded up to the data
preprocessor's ``pad_size_divisor``. The file is checked with
``onnx.checker`` and its outputs are compared with PyTorch's on a random
input. The checkpoint is never overwritten.
"""
import argparse
import math
import os
import os.path as osp
import sys
import tempfile
from typing import Dict, List, Optional, Tuple

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

import mmkd_dense  # noqa: E402,F401  (compat shims before mmrazor imports)
import torch  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402

from mmkd_dense.deployment import (ORTDetector,  # noqa: E402
                                   StudentCheckpointError,
                                   UnsupportedModelError, check_exportable,
                                   export_onnx, load_student)

__all__ = ['default_input_size', 'check_output_path', 'export', 'main']


class ExportError(RuntimeError):
    """A user error: the message says what to change."""


def _test_pipeline(cfg: Config) -> List[Dict]:
    loader = cfg.get('test_dataloader') or cfg.get('val_dataloader') or {}
    dataset = loader.get('dataset', {})
    while 'dataset' in dataset:
        dataset = dataset['dataset']
    return list(dataset.get('pipeline', []))


def default_input_size(cfg: Config) -> Tuple[int, int]:
    """``(H, W)`` of the largest landscape image the test pipeline makes:
    its ``Resize`` scale ``(W, H)`` (a keep-ratio resize fits the long
    side to ``max(scale)`` and the short side to ``min(scale)``) rounded
    up to the preprocessor's ``pad_size_divisor``."""
    scale = None
    for step in _test_pipeline(cfg):
        if step.get('type') in ('Resize', 'mmdet.Resize') and step.get(
                'scale') is not None:
            scale = step['scale']
    if scale is None:
        raise ExportError(
            'the test pipeline of the config has no Resize with a scale; '
            'give the input size with --input-size H W (or use --dynamic).')
    if isinstance(scale, int):
        scale = (scale, scale)
    width, height = max(scale), min(scale)
    divisor = int(cfg.model.get('data_preprocessor', {}).get(
        'pad_size_divisor', 1) or 1)
    return (int(math.ceil(height / divisor) * divisor),
            int(math.ceil(width / divisor) * divisor))


def check_output_path(out: str, config: str, checkpoint: str) -> None:
    """Refuse an output path that is an input or a non-ONNX file."""
    for name, path in (('CHECKPOINT', checkpoint), ('CONFIG', config)):
        if path and osp.exists(path) and osp.exists(out) and osp.samefile(
                out, path):
            raise ExportError(
                f'--out "{out}" is the input {name}; choose another path '
                'ending with .onnx (inputs are never overwritten).')
    if not out.endswith('.onnx'):
        raise ExportError(
            f'--out "{out}" does not end with .onnx; give a path like '
            'work_dirs/student.onnx (an existing non-ONNX file is never '
            'overwritten).')
    if osp.isdir(out):
        raise ExportError(f'--out "{out}" is a directory; give a file path '
                          'ending with .onnx.')
    if osp.exists(out):
        import onnx
        try:
            onnx.load(out, load_external_data=False)
        except Exception as err:  # noqa: BLE001 - any parse failure
            raise ExportError(
                f'--out "{out}" exists and is not an ONNX model ({err}); '
                'refusing to overwrite it: choose another path.') from err


def _verify(detector, onnx_path: str, input_size: Tuple[int, int]) -> Dict:
    """Max |ORT - torch| per output group on a seeded random input."""
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(1, 3, *input_size, generator=generator)
    runner = ORTDetector(onnx_path, detector, providers=[
        'CPUExecutionProvider'])
    with torch.no_grad():
        ref = detector(inputs, mode='tensor')
    ort = runner.raw_outputs(inputs)
    diffs = {}
    for name, ref_group, ort_group in zip(runner.groups, ref, ort):
        diffs[name] = max(float((a - b).abs().max())
                          for a, b in zip(ref_group, ort_group))
    return diffs


def export(config: str, checkpoint: Optional[str], out: str,
           input_size: Optional[Tuple[int, int]] = None,
           dynamic: bool = False, opset: int = 17,
           cfg_options: Optional[Dict] = None, verify: bool = True) -> Dict:
    """Load the student, export it and check the file.

    Returns:
        dict: what :func:`~mmkd_dense.deployment.export_onnx` returns plus
        ``max_abs_diff`` (per output group, ORT vs torch; when ``verify``).

    Raises:
        ExportError: a bad path, checkpoint or unsupported model (the
            message says what to change); nothing is written then.
    """
    if checkpoint is not None and not osp.isfile(checkpoint):
        raise ExportError(f'CHECKPOINT "{checkpoint}" does not exist.')
    check_output_path(out, config, checkpoint)
    try:
        detector, plain_cfg = load_student(config, checkpoint, cfg_options)
        check_exportable(detector)
    except (StudentCheckpointError, UnsupportedModelError, KeyError,
            ValueError) as err:
        msg = err.args[0] if isinstance(err, KeyError) and err.args \
            else str(err)
        raise ExportError(msg) from err
    size = tuple(input_size) if input_size else default_input_size(plain_cfg)
    out_dir = osp.dirname(osp.abspath(out))
    os.makedirs(out_dir, exist_ok=True)
    # write next to OUT, move into place only when complete and checked
    fd, tmp = tempfile.mkstemp(suffix='.onnx', dir=out_dir)
    os.close(fd)
    try:
        meta = {'config': osp.abspath(config),
                'checkpoint': osp.abspath(checkpoint) if checkpoint else ''}
        result = export_onnx(detector, tmp, size, dynamic=dynamic,
                             opset=opset, extra_metadata=meta)
        if verify:
            result['max_abs_diff'] = _verify(detector, tmp, size)
        os.replace(tmp, out)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)
    result['out'] = out
    return result


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Export the (distilled) student to ONNX: raw head '
        'outputs, post-processing by mmdet (tools/deployment/test_onnx.py)')
    parser.add_argument('config', help='distillation or detector config')
    parser.add_argument('checkpoint', help='distillation or student '
                        'checkpoint ("none": random weights, for timing)')
    parser.add_argument('--out', required=True, help='output .onnx file')
    parser.add_argument('--input-size', nargs=2, type=int,
                        metavar=('H', 'W'),
                        help='input size (default: the test pipeline\'s '
                        'Resize scale, padded)')
    parser.add_argument('--dynamic', action='store_true',
                        help='dynamic batch, height and width')
    parser.add_argument('--opset', type=int, default=17)
    parser.add_argument('--no-verify', action='store_true',
                        help='skip the ORT-vs-torch check on a random input')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='overrides applied to the config first')
    return parser.parse_args(argv)


def main(argv=None) -> Dict:
    args = parse_args(argv)
    checkpoint = None if args.checkpoint.lower() == 'none' else \
        args.checkpoint
    try:
        result = export(args.config, checkpoint, args.out, args.input_size,
                        args.dynamic, args.opset, args.cfg_options,
                        verify=not args.no_verify)
    except ExportError as err:
        sys.exit(f'export_onnx.py: error: {err}')
    size = 'dynamic (traced at {}x{})' if result['dynamic'] else '{}x{}'
    print(f'wrote {result["out"]} ({osp.getsize(result["out"]) / 1e6:.2f} '
          f'MB), onnx.checker passed')
    print(f'input:   input (N, 3, H, W), size '
          f'{size.format(*result["input_size"])}')
    print(f'outputs: {", ".join(result["output_names"])}')
    for group, diff in result.get('max_abs_diff', {}).items():
        print(f'max |onnxruntime - torch| on a random input, {group}: '
              f'{diff:.2e}')
    print(f'evaluate: python tools/deployment/test_onnx.py {args.config} '
          f'{result["out"]}')
    return result


if __name__ == '__main__':
    main()
