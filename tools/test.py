# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Evaluate a detector or the student of a distillation checkpoint.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out RESULTS.pkl]
        [--show-dir DIR] [--metrics-out METRICS.json] [--allow-partial]
        [--cfg-options ...] [--launcher pytorch]

On a distillation config the algorithm's predict mode runs the student, so
the reported mAP is the student's. The teacher weights are part of the
distillation checkpoint, so ``model.teacher_ckpt`` (and a DS2D2
``amplifier_ckpt``) is not read.

Before anything is written, CHECKPOINT is compared key by key and shape by
shape with the model of CONFIG (mmengine would load it non-strictly and
evaluate a partly random network): a checkpoint that does not fit, e.g. a
distillation checkpoint with a student config or the reverse, stops with the
counts, the first keys and the fix. ``--allow-partial`` evaluates anyway.
"""
import argparse
import json
import os
import os.path as osp
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)


class _KeyValueAction(argparse.Action):
    """``--cfg-options k=v ...`` kept as strings until mmengine is
    imported (after ``--help``)."""

    def __call__(self, parser, namespace, values, option_string=None):
        for item in values:
            if '=' not in item:
                parser.error(f'{option_string} expects key=value, got '
                             f'"{item}"')
        setattr(namespace, self.dest,
                (getattr(namespace, self.dest) or []) + list(values))


def parse_args(argv=None):
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
    parser.add_argument(
        '--allow-partial', action='store_true',
        help='evaluate even if CHECKPOINT does not fit the model (missing '
        'weights keep their initialisation); a warning is logged')
    parser.add_argument('--cfg-options', nargs='+', action=_KeyValueAction,
                        help='override config settings, key=value')
    parser.add_argument('--launcher',
                        choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
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


def checkpoint_mismatch(cfg, checkpoint):
    """Compare CHECKPOINT with the model of ``cfg`` (built once, quietly;
    the checkpoint's tensors are memory-mapped, not read).

    Returns:
        str | None: the message (counts, first keys, fix), or None if every
        key and shape fits.
    """
    from mmengine.registry import MODELS, DefaultScope

    from mmkd_dense.models.algorithms import teacher_weights_check_only
    from mmkd_dense.utils.preflight import _quiet_current_logger
    from mmkd_dense.utils.strict_loading import (CheckpointLoadError,
                                                 checkpoint_kind,
                                                 compare_state_dicts,
                                                 describe_mismatch,
                                                 read_state_dict)
    try:
        state = read_state_dict(checkpoint, 'CHECKPOINT', mmap=True)
    except CheckpointLoadError as err:
        return str(err)
    scope = cfg.get('default_scope', 'mmdet')
    if DefaultScope.get_current_instance() is None:
        DefaultScope.get_instance('mmkd_dense_test_check', scope_name=scope)
    with DefaultScope.overwrite_default_scope(scope), \
            teacher_weights_check_only(), _quiet_current_logger():
        model = MODELS.build(cfg.model)
    diff = compare_state_dicts(model.state_dict(), state)
    if diff.ok:
        return None
    kind = checkpoint_kind(state)
    distill_cfg = hasattr(model, 'teacher')
    if kind == 'distillation' and not distill_cfg:
        hint = ('It is a distillation checkpoint (keys "architecture.*", '
                '"teacher.*") but CONFIG builds a plain detector. Test it '
                'with its distillation config (the student is evaluated), or '
                'extract the student first: python tools/model_converters/'
                'extract_student.py <distillation config> CHECKPOINT '
                'student.pth (it also writes student.py to test it with).')
    elif kind != 'distillation' and distill_cfg:
        hint = ('It is a plain detector checkpoint but CONFIG is a '
                'distillation config (its checkpoints hold "architecture.*" '
                'and "teacher.*"). Test it with the detector\'s own config, '
                'e.g. the one model.architecture names, or the student.py '
                'written by tools/model_converters/extract_student.py.')
    else:
        hint = ('It was trained with another config: test it with the '
                'config saved in its work dir.')
    target = f'the model of CONFIG ({type(model).__name__})'
    return describe_mismatch(diff, 'CHECKPOINT', checkpoint, target, hint)


def main(argv=None):
    args = parse_args(argv)
    if not osp.isfile(args.checkpoint):
        sys.exit(f'checkpoint "{args.checkpoint}" does not exist')
    if not osp.isfile(args.config):
        sys.exit(f'config file "{args.config}" does not exist')
    if args.out is not None and not args.out.endswith(('.pkl', '.pickle')):
        sys.exit('--out must end with .pkl or .pickle')

    import mmkd_dense  # noqa: F401  (compat shims before mmrazor imports)
    from mmengine.config import Config, DictAction

    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options:
        cfg.merge_from_dict({
            k: DictAction._parse_iterable(v)
            for k, v in (item.split('=', 1) for item in args.cfg_options)
        })
    # one place for another dataset (configs/README.md)
    from mmkd_dense.utils.dataset_override import apply_dataset_override
    try:
        apply_dataset_override(cfg)
    except (TypeError, KeyError, ValueError, FileNotFoundError) as exc:
        sys.exit(f'{args.config}: {exc}')

    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    if 'teacher' in cfg.model:
        # the teacher weights are in CHECKPOINT: teacher_ckpt is not read
        if str(cfg.model.get('type', '')).endswith('GTAwareDistill'):
            cfg.model.teacher_restored_from = args.checkpoint
        else:  # a plain mmrazor algorithm
            cfg.model.teacher_ckpt = None
    # so are those of loss-owned frozen modules (DS2D2's HF amplifier): the
    # stage-2 checkpoint need not exist where a distilled model is tested
    losses = cfg.model.get('distiller', {}).get('distill_losses', {})
    for loss in losses.values():
        if isinstance(loss, dict) and loss.get('amplifier_ckpt'):
            loss.amplifier_ckpt = None

    mismatch = checkpoint_mismatch(cfg, args.checkpoint)
    if mismatch and not args.allow_partial:
        print(f'{mismatch}\n(nothing was evaluated; --allow-partial '
              'evaluates anyway, with the missing weights left at their '
              'initialisation)', file=sys.stderr)
        sys.exit(1)

    # NCCL needs GPUs: on a CPU machine DDP runs on gloo.
    from mmkd_dense.utils.dist import prepare_cpu_distributed
    prepare_cpu_distributed(cfg, args.launcher)

    if args.show or args.show_dir:
        enable_visualization(cfg, args)

    from mmkd_dense.utils.run_log import build_runner
    runner = build_runner(cfg)
    if mismatch:
        runner.logger.warning(
            f'--allow-partial: evaluating a checkpoint that does not fit '
            f'the model.\n{mismatch}')

    if args.out is not None:
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
