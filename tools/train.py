# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Train a detector or a distillation config (mmdet/mmrazor-compatible CLI).

    python tools/train.py CONFIG [--work-dir DIR] [--amp] [--auto-scale-lr]
        [--resume [CKPT] | --resume-or-start] [--cfg-options k=v ...]
        [--launcher pytorch]

Before the Runner creates the work dir, the config is checked (data files,
teacher checkpoint key by key, recorders, loss mappings, registered types,
a dry-run distillation step, the student's and teacher's predict);
``--no-preflight`` skips that. ``--resume`` stops with a message when the
work dir holds no checkpoint (``--resume-or-start`` starts fresh instead).

Heavy imports (torch, mmengine, mmdet, mmrazor) happen after the arguments
are parsed, so ``--help`` and argument errors are immediate.
"""
import argparse
import os
import os.path as osp
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)


class _KeyValueAction(argparse.Action):
    """``--cfg-options k=v ...`` kept as strings; parsed with mmengine's
    ``DictAction`` rules after ``--help`` had its chance (mmengine imports
    torch)."""

    def __call__(self, parser, namespace, values, option_string=None):
        for item in values:
            if '=' not in item:
                parser.error(f'{option_string} expects key=value, got '
                             f'"{item}"')
        setattr(namespace, self.dest,
                (getattr(namespace, self.dest) or []) + list(values))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a detector / KD')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument('--amp', action='store_true',
                        help='enable automatic-mixed-precision training '
                        '(CUDA: float16 with loss scaling; CPU: bfloat16)')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='enable automatically scaling LR')
    resume = parser.add_mutually_exclusive_group()
    resume.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from CKPT, or from the latest checkpoint in the work '
        'dir when no path is given; stops if there is none')
    resume.add_argument(
        '--resume-or-start', action='store_true',
        help='resume from the latest checkpoint in the work dir, or start '
        'from scratch when it holds none')
    parser.add_argument(
        '--cfg-options', nargs='+', action=_KeyValueAction,
        help='override config settings, key=value (dotted keys)')
    parser.add_argument('--no-preflight', action='store_true',
                        help='skip the config checks and dry run')
    parser.add_argument('--launcher',
                        choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def cfg_options_dict(pairs):
    """``['a.b=1', 'c=[1,2]']`` -> dict, as mmengine's ``DictAction``."""
    from mmengine.config import DictAction
    options = {}
    for item in pairs or []:
        key, value = item.split('=', maxsplit=1)
        options[key] = DictAction._parse_iterable(value)
    return options


def fail(message: str, config: str) -> None:
    """Print a config problem and exit 1 (nothing was written)."""
    print(f'Config check failed for {config}:\n{message}\n'
          '(nothing was written; use --no-preflight to skip checks)',
          file=sys.stderr)
    sys.exit(1)


def resolve_resume(args, cfg):
    """Decide what ``--resume`` / ``--resume-or-start`` (or ``resume=True``
    in the config) resume from.

    Returns:
        str | None: the checkpoint to resume (set as ``cfg.load_from``
        with ``cfg.resume=True``), or None to start from scratch.
    """
    flag, path = '--resume', None
    if args.resume not in (None, 'auto'):
        path = args.resume
    elif args.resume is None and not args.resume_or_start:
        if cfg.get('resume') is not True:
            return None
        # resume=True in the config: mmengine resumes from load_from, or
        # auto-resumes, starting from scratch without a word if nothing is
        # found
        flag, path = 'resume=True (config)', cfg.get('load_from')
    if path:
        if not osp.isfile(path):
            fail(f'{flag}: {path}: no such checkpoint file.', args.config)
        return path
    work_dir = cfg.work_dir
    pointer = osp.join(work_dir, 'last_checkpoint')
    found, reason = None, None
    if not osp.isdir(work_dir):
        reason = f'the work dir {work_dir} does not exist'
    elif not osp.isfile(pointer):
        reason = (f'{work_dir} has no last_checkpoint file (no checkpoint '
                  'was saved there)')
    else:
        with open(pointer) as f:
            found = f.read().strip()
        if not found or not osp.isfile(found):
            reason = (f'{pointer} names "{found}", which does not exist')
            found = None
    if found is not None:
        return found
    if args.resume_or_start:
        print(f'--resume-or-start: {reason}; starting from scratch.',
              file=sys.stderr)
        return None
    fail(f'{flag}: nothing to resume, {reason}. Check --work-dir (the '
         'default is work_dirs/<config name>), give the checkpoint '
         '(--resume work_dirs/<run>/epoch_N.pth), or use --resume-or-start '
         'to start from scratch when there is none.', args.config)


def restore_from_checkpoint(cfg, ckpt: str) -> None:
    """A distillation checkpoint holds the teacher (and DS2D2 amplifier)
    weights: when resuming from one, ``teacher_ckpt`` / ``amplifier_ckpt``
    are neither required to exist nor read."""
    model = cfg.model
    if not isinstance(model, dict) or 'teacher' not in model:
        return
    from mmkd_dense.utils.strict_loading import (CheckpointLoadError,
                                                 read_state_dict)
    try:
        state = read_state_dict(ckpt, '--resume', mmap=True)
    except CheckpointLoadError as err:
        fail(str(err), cfg.filename or '')
    if not any(k.startswith('teacher.') for k in state):
        return
    if str(model.get('type', '')).endswith('GTAwareDistill'):
        model.teacher_restored_from = ckpt
    else:  # a plain mmrazor algorithm: resuming overwrites the teacher
        model.teacher_ckpt = None
    losses = model.get('distiller', {}).get('distill_losses', {}) or {}
    for name, loss in losses.items():
        prefix = f'distiller.distill_losses.{name}.amplifier.'
        if isinstance(loss, dict) and loss.get('amplifier_ckpt') and any(
                k.startswith(prefix) for k in state):
            loss.amplifier_ckpt = None


def main(argv=None):
    args = parse_args(argv)
    if not osp.isfile(args.config):
        sys.exit(f'config file "{args.config}" does not exist')

    import mmkd_dense  # noqa: F401  (compat shims before mmrazor imports)
    from mmengine.config import Config

    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options:
        cfg.merge_from_dict(cfg_options_dict(args.cfg_options))
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

    if args.amp:  # float16 + loss scaler on CUDA, bfloat16 on CPU
        from mmkd_dense.utils.amp import configure_amp
        configure_amp(cfg)

    if args.auto_scale_lr:
        if cfg.get('auto_scale_lr') and 'base_batch_size' in cfg.auto_scale_lr:
            cfg.auto_scale_lr.enable = True
        else:
            raise RuntimeError('--auto-scale-lr needs auto_scale_lr.'
                               'base_batch_size in the config.')

    resume_from = resolve_resume(args, cfg)
    if resume_from is not None:
        cfg.resume = True
        cfg.load_from = resume_from
        restore_from_checkpoint(cfg, resume_from)
    elif args.resume_or_start:
        cfg.resume = False

    # NCCL needs GPUs: on a CPU machine DDP runs on gloo.
    from mmkd_dense.utils.dist import prepare_cpu_distributed
    prepare_cpu_distributed(cfg, args.launcher)

    if not args.no_preflight:
        from mmkd_dense.utils.preflight import PreflightError, preflight_check
        try:
            preflight_check(cfg, resume_from=resume_from)
        except PreflightError as err:
            fail(str(err), args.config)

    from mmkd_dense.utils.run_log import build_runner
    runner = build_runner(cfg)
    runner.train()


if __name__ == '__main__':
    main()
