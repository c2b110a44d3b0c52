# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Evaluate a detector or the student of a distillation checkpoint.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out RESULTS.pkl]
        [--show-dir DIR] [--metrics-out METRICS.json] [--cfg-options ...]
        [--launcher pytorch]

On a distillation config the algorithm's predict mode runs the student, so
the reported mAP is the student's. The teacher weights are part of the
distillation checkpoint, so ``model.teacher_ckpt`` is not loaded again.
"""
import argparse
import json
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import mmkd_dense  # noqa: E402,F401  (compat shims before mmrazor imports)
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.registry import RUNNERS  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

from mmkd_dense.utils.dist import prepare_cpu_distributed  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(description='Test (and eval) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save logs/metrics')
    parser.add_argument('--out', type=str,
                        help='dump predictions to a pickle file')
    parser.add_argument('--metrics-out', type=str,
                        help='write the final metrics to a JSON file')
    parser.add_argument('--show', action='store_true',
                        help='show prediction results')
    parser.add_argument('--show-dir',
                        help='save painted images under work_dir/<timestamp>/'
                        'SHOW_DIR')
    parser.add_argument('--wait-time', type=float, default=2,
                        help='the interval of show (s)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    parser.add_argument('--launcher',
                        choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def enable_visualization(cfg, args):
    """Turn on mmdet's DetVisualizationHook for --show / --show-dir."""
    hooks = cfg.default_hooks
    if 'visualization' not in hooks:
        raise RuntimeError('--show/--show-dir need default_hooks.'
                           'visualization (DetVisualizationHook).')
    hooks.visualization.draw = True
    if args.show:
        hooks.visualization.show = True
        hooks.visualization.wait_time = args.wait_time
    if args.show_dir:
        hooks.visualization.test_out_dir = args.show_dir


def main():
    args = parse_args()
    if not osp.isfile(args.checkpoint):
        sys.exit(f'checkpoint "{args.checkpoint}" does not exist')
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)

    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    if 'teacher_ckpt' in cfg.model:
        cfg.model.teacher_ckpt = None  # teacher weights are in CHECKPOINT
    # so are those of loss-owned frozen modules (DS2D2's HF amplifier): the
    # stage-2 checkpoint need not exist where a distilled model is tested
    losses = cfg.model.get('distiller', {}).get('distill_losses', {})
    for loss in losses.values():
        if isinstance(loss, dict) and loss.get('amplifier_ckpt'):
            loss.amplifier_ckpt = None

    # NCCL needs GPUs: on a CPU machine DDP runs on gloo.
    prepare_cpu_distributed(cfg, args.launcher)

    if args.show or args.show_dir:
        enable_visualization(cfg, args)

    if 'runner_type' not in cfg:
        runner = Runner.from_cfg(cfg)
    else:
        runner = RUNNERS.build(cfg)

    if args.out is not None:
        if not args.out.endswith(('.pkl', '.pickle')):
            sys.exit('--out must end with .pkl or .pickle')
        from mmdet.evaluation import DumpDetResults
        runner.test_evaluator.metrics.append(
            DumpDetResults(out_file_path=args.out))

    metrics = runner.test()
    if args.metrics_out:
        os.makedirs(osp.dirname(osp.abspath(args.metrics_out)),
                    exist_ok=True)
        with open(args.metrics_out, 'w') as f:
            json.dump({k: float(v) if isinstance(v, (int, float)) else str(v)
                       for k, v in metrics.items()}, f, indent=2)


if __name__ == '__main__':
    main()
