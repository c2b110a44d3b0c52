# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Accuracy benchmark in one command: teacher, no-KD student, each method.

For every distillation config given (default: ``configs/demo`` and the LD
and CrossKD digits configs, :data:`DEFAULT_CONFIG_GLOBS`) and every seed it
trains and tests, with this repository's ``tools/train.py`` and
``tools/test.py`` (mmengine ``Runner``):

- ``teacher``: the teacher's own detector config (``model.teacher.cfg_file``)
  -- or, for an inline teacher dict, the distillation config with
  ``model = model.teacher``;
- ``student``: the distillation config with ``model = model.architecture``
  and the plain val loop (same data and schedule as the KD runs, no KD);
- one row per method config, with ``model.teacher_ckpt`` pointing at the
  teacher trained with ``--teacher-seed`` (default: the first seed).

and prints a markdown table of mean ± std (sample std over seeds) of the
mAP (and mAP@0.5). Each run lives in ``WORK_DIR/<row>/seed<S>/`` with the
exact config used (``config.py``), logs and ``result.json``; a run whose
``result.json`` exists is skipped, and an interrupted training resumes from
its last checkpoint, so the command can be re-run until it completes
(``--force`` re-runs everything).

Examples::

    # CPU, 3 seeds (slow: ~12 epochs per run on 400 images)
    python tools/analysis_tools/benchmark_accuracy.py --seeds 0 1 2
    # GPU machine
    python tools/analysis_tools/benchmark_accuracy.py --device cuda \
        --seeds 0 1 2 3 4 --work-dir work_dirs/accuracy_gpu
    # quick smoke run
    python tools/analysis_tools/benchmark_accuracy.py --seeds 0 \
        --max-epochs 1 --demo-data-size 16 8 --work-dir work_dirs/acc_smoke
"""
import argparse
import copy
import datetime
import glob
import json
import math
import os
import os.path as osp
import runpy
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence, Tuple

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

from analysis_utils import REPO_ROOT, deep_replace, load_config  # noqa: E402
from mmengine.config import Config, ConfigDict, DictAction  # noqa: E402

sys.path.insert(0, osp.join(REPO_ROOT, 'tools', 'model_converters'))
from extract_student import student_config  # noqa: E402

from mmkd_dense.utils.pretrained import disable_imagenet_init  # noqa: E402

__all__ = ['plan_runs', 'run_one', 'summarize', 'format_table', 'main']

TRAIN_SCRIPT = osp.join(REPO_ROOT, 'tools', 'train.py')
TEST_SCRIPT = osp.join(REPO_ROOT, 'tools', 'test.py')
#: Default rows: the demo (FGD) and the head-level baselines LD and CrossKD
#: on the digits set; other methods are given as arguments.
DEFAULT_CONFIG_GLOBS = ('configs/demo/*.py',
                        'configs/baselines/ld/*_digits.py',
                        'configs/baselines/crosskd/*_digits.py')


# --------------------------------------------------------------------- #
# configs
# --------------------------------------------------------------------- #
def is_distill_cfg(cfg: Config) -> bool:
    """A distillation config has ``model.architecture`` and a teacher."""
    return 'architecture' in cfg.model and 'teacher' in cfg.model


def teacher_config(cfg: Config) -> Tuple[Config, str]:
    """The config that trains the teacher of a distillation config.

    Returns:
        tuple[Config, str]: the config and a source label (its file, or
        ``'<inline>'``).
    """
    teacher = cfg.model.teacher
    if isinstance(teacher, dict) and 'cfg_file' in teacher:
        path = teacher['cfg_file']
        full = path if osp.isabs(path) else (
            path if osp.isfile(path) else osp.join(REPO_ROOT, path))
        tcfg = Config.fromfile(full)
        if teacher.get('cfg_options'):
            tcfg.merge_from_dict({f'model.{k}': v for k, v in
                                  teacher['cfg_options'].items()})
        return tcfg, path
    tcfg = student_config(cfg)
    tcfg.model = ConfigDict(copy.deepcopy(teacher))
    return tcfg, '<inline>'


def apply_overrides(cfg: Config,
                    data_root: Optional[str] = None,
                    max_epochs: Optional[int] = None,
                    cfg_options: Optional[Dict] = None) -> Config:
    """Point every dataloader/evaluator at ``data_root`` (COCO layout
    ``annotations/instances_{train,val}.json``), shorten the schedule and
    merge user overrides. Backbones start from random initialisation."""
    cfg = copy.deepcopy(cfg)
    # random init on purpose: every row trains under the embedded demo's
    # protocol, without ImageNet files (a paper config given here too)
    disable_imagenet_init(cfg.model)
    if data_root:
        root = data_root.rstrip('/') + '/'
        cfg.data_root = root
        for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
            loader = cfg.get(key)
            if not loader:
                continue
            dataset = loader.dataset
            while 'dataset' in dataset:  # RepeatDataset and friends
                dataset = dataset.dataset
            dataset.data_root = root
        for key in ('val_evaluator', 'test_evaluator'):
            evaluator = cfg.get(key)
            for ev in (evaluator if isinstance(evaluator, list) else
                       [evaluator] if evaluator else []):
                if 'ann_file' in ev:
                    ev.ann_file = osp.join(
                        root, 'annotations',
                        osp.basename(ev.ann_file))
    if max_epochs:
        if 'max_epochs' not in cfg.train_cfg:
            raise KeyError('--max-epochs needs an epoch-based train_cfg '
                           '(train_cfg.max_epochs).')
        cfg.train_cfg.max_epochs = max_epochs
        cfg.train_cfg.val_interval = max_epochs + 1  # test once at the end
        hooks = cfg.get('default_hooks', {})
        if 'checkpoint' in hooks:
            hooks.checkpoint.interval = max_epochs
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def ensure_demo_data(cfg: Config, size: Optional[Sequence[int]]) -> None:
    """Generate the embedded digits dataset when the config uses it and its
    annotation files are missing."""
    root = cfg.get('data_root', '')
    if 'digits' not in str(root):
        return
    full = root if osp.isabs(root) else osp.join(os.getcwd(), root)
    ann = osp.join(full, 'annotations', 'instances_val.json')
    if osp.isfile(ann) and not size:
        return
    from mmkd_dense.demo.digits import generate_digits_dataset
    kwargs = {}
    if size:
        kwargs = dict(num_train=int(size[0]), num_val=int(size[1]))
    print(f'[benchmark_accuracy] generating the digits demo set in {full}',
          flush=True)
    generate_digits_dataset(full, **kwargs)


def plan_runs(configs: Sequence[str], seeds: Sequence[int],
              work_dir: str) -> List[Dict]:
    """Rows (teacher, student, methods) and their runs.

    Returns:
        list[dict]: per row ``name``, ``kind`` (teacher/student/kd),
        ``source`` (config path or label), ``cfg`` (Config), ``teacher``
        (row name of its teacher, kd only), ``student`` (row name of the
        no-KD run of its own student, kd only: the baseline of its Δ) and
        ``runs`` (seed -> run directory).
    """
    rows: List[Dict] = []
    teachers: Dict[str, str] = {}
    students: Dict[str, str] = {}
    kd_rows = []
    for path in configs:
        cfg = load_config(path)
        if not is_distill_cfg(cfg):
            continue
        tcfg, tsrc = teacher_config(cfg)
        tkey = tsrc if tsrc != '<inline>' else str(tcfg.model)
        if tkey not in teachers:
            name = 'teacher' if not teachers else f'teacher{len(teachers)}'
            teachers[tkey] = name
            rows.append(dict(name=name, kind='teacher', source=tsrc,
                             cfg=tcfg))
        scfg = student_config(cfg)
        skey = str(scfg.model)
        if skey not in students:
            name = 'student' if not students else f'student{len(students)}'
            students[skey] = name
            rows.append(dict(name=name, kind='student',
                             source=f'{path} (model.architecture, no KD)',
                             cfg=scfg))
        stem = osp.splitext(osp.basename(path))[0]
        kd_rows.append(dict(name=stem, kind='kd', source=path, cfg=cfg,
                            teacher=teachers[tkey], student=students[skey]))
    if not kd_rows:
        raise SystemExit('no distillation config among the configs given')
    rows += kd_rows
    for row in rows:
        row['runs'] = {s: osp.join(work_dir, row['name'], f'seed{s}')
                       for s in seeds}
    return rows


# --------------------------------------------------------------------- #
# running
# --------------------------------------------------------------------- #
def _last_checkpoint(run_dir: str) -> Optional[str]:
    marker = osp.join(run_dir, 'last_checkpoint')
    if osp.isfile(marker):
        with open(marker) as f:
            path = f.read().strip()
        if osp.isfile(path):
            return path
    ckpts = sorted(glob.glob(osp.join(run_dir, '*.pth')), key=osp.getmtime)
    return ckpts[-1] if ckpts else None


def reset_visualizers() -> None:
    """Forget mmengine's global visualizer instances.

    A ``Runner`` reuses the visualizer instance registered under the
    config's ``visualizer.name`` (``'visualizer'`` in mmdet runtimes), so a
    second run in the same process would keep writing into the first run's
    (possibly deleted) log directory.
    """
    from mmengine.visualization import Visualizer
    stack = [Visualizer]
    while stack:
        cls = stack.pop()
        getattr(cls, '_instance_dict', {}).clear()
        stack.extend(cls.__subclasses__())


def _launch(script: str, args: List[str], log_file: str, launcher: str,
            env: Dict[str, str]) -> None:
    """Run a tool script in a child process (default) or in-process."""
    if launcher == 'inprocess':
        reset_visualizers()
        argv, environ = sys.argv, dict(os.environ)
        sys.argv = [script] + args
        os.environ.update(env)
        try:
            runpy.run_path(script, run_name='__main__')
        except SystemExit as err:
            if err.code not in (None, 0):
                raise RuntimeError(f'{osp.basename(script)} exited with '
                                   f'{err.code}') from err
        finally:
            sys.argv = argv
            os.environ.clear()
            os.environ.update(environ)
            reset_visualizers()
        return
    with open(log_file, 'w') as log:
        proc = subprocess.run([sys.executable, script] + args, cwd=os.getcwd(),
                              stdout=log, stderr=subprocess.STDOUT, env=env)
    if proc.returncode != 0:
        with open(log_file) as f:
            tail = ''.join(f.readlines()[-25:])
        raise RuntimeError(f'{osp.basename(script)} {" ".join(args)} failed '
                           f'(exit {proc.returncode}); see {log_file}:\n'
                           f'{tail}')


def mmengine_checkpoints_load_safely() -> bool:
    """Whether ``torch.load`` (weights-only default of torch >= 2.6) can
    read what mmengine's ``Runner`` saves, with the shims of
    ``mmkd_dense.compat``. A saved ``HistoryBuffer`` pickles its statistics
    methods through ``builtins.getattr``, which the weights-only unpickler
    refuses unless allow-listed."""
    import io

    import torch
    from mmengine.logging import HistoryBuffer
    history = HistoryBuffer()
    history.update(1.0)
    buf = io.BytesIO()
    torch.save(dict(message_hub=dict(log_scalars=dict(loss=history))), buf)
    buf.seek(0)
    try:
        torch.load(buf)
        return True
    except Exception:  # noqa: BLE001 - UnpicklingError and friends
        return False


def _child_env(device: str) -> Dict[str, str]:
    env = dict(os.environ)
    if not mmengine_checkpoints_load_safely():
        # The checkpoints tested here are the ones this benchmark has just
        # trained in its own work dir; let torch.load read them fully.
        env['TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'] = '1'
    if device == 'cpu':
        env['CUDA_VISIBLE_DEVICES'] = ''
    elif device.startswith('cuda:'):
        env['CUDA_VISIBLE_DEVICES'] = device.split(':', 1)[1]
    path = env.get('PYTHONPATH', '')
    env['PYTHONPATH'] = REPO_ROOT + (os.pathsep + path if path else '')
    return env


def run_one(row: Dict, seed: int, run_dir: str, cfg: Config,
            launcher: str = 'subprocess', device: str = 'cpu',
            force: bool = False) -> Dict:
    """Train + test one (row, seed) unless its ``result.json`` exists.

    Returns:
        dict: the result record (``metrics``, ``checkpoint``, times,
        ``skipped`` True when it was read back).
    """
    result_file = osp.join(run_dir, 'result.json')
    if osp.isfile(result_file) and not force:
        with open(result_file) as f:
            record = json.load(f)
        record['skipped'] = True
        return record
    os.makedirs(run_dir, exist_ok=True)
    cfg_file = osp.join(run_dir, 'config.py')
    cfg.dump(cfg_file)
    env = _child_env(device)
    seed_opt = ['--cfg-options', f'randomness.seed={seed}']
    train_args = [cfg_file, '--work-dir', run_dir] + seed_opt
    ckpt = _last_checkpoint(run_dir)
    if ckpt and not force:
        train_args.append('--resume')  # continue an interrupted run
    start = time.time()
    _launch(TRAIN_SCRIPT, train_args, osp.join(run_dir, 'train.log'),
            launcher, env)
    train_time = time.time() - start
    ckpt = _last_checkpoint(run_dir)
    if ckpt is None:
        raise RuntimeError(f'training {row["name"]} seed {seed} wrote no '
                           f'checkpoint in {run_dir}')
    metrics_file = osp.join(run_dir, 'metrics.json')
    start = time.time()
    _launch(TEST_SCRIPT, [
        cfg_file, ckpt, '--work-dir', osp.join(run_dir, 'test'),
        '--metrics-out', metrics_file
    ] + seed_opt, osp.join(run_dir, 'test.log'), launcher, env)
    test_time = time.time() - start
    with open(metrics_file) as f:
        metrics = json.load(f)
    record = dict(row=row['name'], kind=row['kind'], source=row['source'],
                  seed=seed, checkpoint=osp.abspath(ckpt),
                  config=osp.abspath(cfg_file), metrics=metrics,
                  train_time_s=train_time, test_time_s=test_time,
                  device=device,
                  date=datetime.datetime.now().isoformat(timespec='seconds'))
    with open(result_file, 'w') as f:
        json.dump(record, f, indent=2)
    record['skipped'] = False
    return record


# --------------------------------------------------------------------- #
# summary
# --------------------------------------------------------------------- #
def _pick(metrics: Dict, key: str) -> Optional[str]:
    if key != 'auto':
        return key
    for cand in metrics:
        if cand.endswith('bbox_mAP'):
            return cand
    for cand in metrics:
        if cand.endswith('mAP'):
            return cand
    return None


def _metric_value(metrics: Dict, key: Optional[str]) -> float:
    """A metric in percent; an empty metrics dict (no detection at all,
    CocoMetric returns nothing) counts as 0."""
    if key is None or key not in metrics:
        return 0.0
    value = float(metrics[key])
    return round(value * 100, 6) if value <= 1.0 else value


def _mean_std(values: Sequence[float]) -> Tuple[float, float]:
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean)**2 for v in values) / (n - 1)) \
        if n > 1 else 0.0
    return mean, std


def summarize(rows: List[Dict], records: Dict[Tuple[str, int], Dict],
              metric: str = 'auto') -> List[Dict]:
    """Mean ± std per row of the main metric and of mAP@0.5."""
    summary = []
    for row in rows:
        recs = [records[(row['name'], s)] for s in row['runs']
                if (row['name'], s) in records]
        if not recs:
            summary.append(dict(name=row['name'], kind=row['kind'],
                                source=row['source'], n=0))
            continue
        key = next((_pick(r['metrics'], metric) for r in recs
                    if _pick(r['metrics'], metric)), None)
        key50 = f'{key}_50' if key else None
        main_vals = [_metric_value(r['metrics'], key) for r in recs]
        ap50_vals = [_metric_value(r['metrics'], key50) for r in recs]
        mean, std = _mean_std(main_vals)
        mean50, std50 = _mean_std(ap50_vals)
        summary.append(dict(
            name=row['name'], kind=row['kind'], source=row['source'],
            n=len(recs), seeds=[r['seed'] for r in recs], metric=key,
            values=main_vals, mean=mean, std=std, values_50=ap50_vals,
            mean_50=mean50, std_50=std50))
    # Each method is compared with the no-KD run of its *own* student
    # (e.g. CID's Light-ML student has its own no-KD row); a teacher row
    # is compared with the first student.
    means = {s['name']: s['mean'] for s in summary
             if s['kind'] == 'student' and s['n']}
    first_student = next(iter(means.values()), None)
    for row, s in zip(rows, summary):
        if not s['n']:
            continue
        own = row.get('student') if row['kind'] == 'kd' else None
        base = means.get(own, first_student)
        if base is not None:
            s['delta'] = s['mean'] - base
            s['baseline'] = own if own in means else next(iter(means))
    return summary


def format_table(summary: List[Dict]) -> str:
    """Markdown table: row, kind, n, mAP mean ± std, mAP50, Δ vs the
    row's own no-KD student."""
    lines = ['| run | kind | seeds | mAP | mAP@0.5 | Δ mAP vs own student | '
             'config |', '|---|---|---|---|---|---|---|']
    for s in summary:
        if not s['n']:
            lines.append(f'| {s["name"]} | {s["kind"]} | 0 | not run | | | '
                         f'{s["source"]} |')
            continue
        delta = s.get('delta')
        delta = '' if delta is None or s['kind'] == 'student' else \
            f'{delta:+.2f} (vs {s["baseline"]})'
        lines.append(
            f'| {s["name"]} | {s["kind"]} | {s["n"]} | '
            f'{s["mean"]:.2f} ± {s["std"]:.2f} | '
            f'{s["mean_50"]:.2f} ± {s["std_50"]:.2f} | {delta} | '
            f'{s["source"]} |')
    return '\n'.join(lines)


# --------------------------------------------------------------------- #
# main
# --------------------------------------------------------------------- #
def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Train/test teacher, no-KD student and each method for '
        'N seeds; markdown table of mean ± std mAP (resumable)')
    parser.add_argument('configs', nargs='*',
                        help=f'distillation configs (default: '
                        f'{" ".join(DEFAULT_CONFIG_GLOBS)})')
    parser.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
    parser.add_argument('--teacher-seed', type=int, default=None,
                        help='seed of the teacher the KD runs use '
                        '(default: the first seed)')
    parser.add_argument('--work-dir', default='work_dirs/benchmark_accuracy')
    parser.add_argument('--device', default='cpu',
                        help='cpu, cuda or cuda:N (runs are sequential)')
    parser.add_argument('--data-root',
                        help='COCO-layout data root used by every run')
    parser.add_argument('--demo-data-size', nargs=2, type=int,
                        metavar=('TRAIN', 'VAL'),
                        help='generate the digits demo set with this many '
                        'images (default: the generator\'s 400/100 when '
                        'missing)')
    parser.add_argument('--max-epochs', type=int,
                        help='shorten every schedule (smoke runs)')
    parser.add_argument('--metric', default='auto',
                        help='metric key (default: *bbox_mAP, else *mAP)')
    parser.add_argument('--launcher', choices=['subprocess', 'inprocess'],
                        default='subprocess',
                        help='child process per tool call (default) or in '
                        'this process (faster start, used by the tests)')
    parser.add_argument('--teacher-once', action='store_true',
                        help='train each teacher only with --teacher-seed '
                        '(the KD rows use that one anyway); its row then '
                        'has one seed')
    parser.add_argument('--force', action='store_true',
                        help='re-run finished runs')
    parser.add_argument('--dry-run', action='store_true',
                        help='print the plan only')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='overrides applied to every run\'s config')
    return parser.parse_args(argv)


def main(argv=None) -> Dict:
    """Run (or resume) the benchmark; returns the summary."""
    args = parse_args(argv)
    if args.device.startswith('cuda'):
        import torch
        if not torch.cuda.is_available():
            raise SystemExit('--device cuda given but CUDA is not available')
    configs = args.configs or sorted(
        osp.relpath(p, REPO_ROOT)
        for pattern in DEFAULT_CONFIG_GLOBS
        for p in glob.glob(osp.join(REPO_ROOT, pattern)))
    seeds = list(dict.fromkeys(args.seeds))
    teacher_seed = args.teacher_seed if args.teacher_seed is not None \
        else seeds[0]
    rows = plan_runs(configs, seeds, args.work_dir)
    by_name = {r['name']: r for r in rows}
    for r in rows:
        r['cfg'] = apply_overrides(r['cfg'], args.data_root, args.max_epochs,
                                   args.cfg_options)
    print('[benchmark_accuracy] plan:')
    for r in rows:
        extra = f' (teacher: {r["teacher"]} seed {teacher_seed})' \
            if r['kind'] == 'kd' else ''
        row_seeds = [teacher_seed] if args.teacher_once and \
            r['kind'] == 'teacher' else seeds
        print(f'  {r["name"]:<40} {r["kind"]:<8} seeds {row_seeds}{extra}')
    if args.dry_run:
        return dict(rows=[{k: v for k, v in r.items() if k != 'cfg'}
                          for r in rows], failures=[])
    ensure_demo_data(rows[0]['cfg'], args.demo_data_size)
    os.makedirs(args.work_dir, exist_ok=True)

    records: Dict[Tuple[str, int], Dict] = {}
    failures: List[str] = []
    tried = set()

    def run(row, seed):
        cfg = row['cfg']
        if row['kind'] == 'kd':
            teacher_row = by_name[row['teacher']]
            key = (teacher_row['name'], teacher_seed)
            if key not in records and key not in tried:
                run(teacher_row, teacher_seed)
            if key not in records:
                failures.append(f'{row["name"]} seed {seed}: its teacher '
                                f'({key[0]} seed {key[1]}) failed')
                return
            old = cfg.model.get('teacher_ckpt')
            new = records[key]['checkpoint']
            cfg = copy.deepcopy(cfg)
            if old:  # also in e.g. MGD's inheriting init_cfg
                cfg.model = ConfigDict(deep_replace(cfg.model.to_dict(),
                                                   old, new))
            cfg.model.teacher_ckpt = new
        tried.add((row['name'], seed))
        try:
            rec = run_one(row, seed, row['runs'][seed], cfg, args.launcher,
                          args.device, args.force)
            records[(row['name'], seed)] = rec
            state = 'done before, skipped' if rec['skipped'] else \
                f'trained {rec["train_time_s"]:.0f}s'
            print(f'[benchmark_accuracy] {row["name"]} seed {seed}: {state}',
                  flush=True)
        except Exception as err:  # keep going; re-run resumes
            failures.append(f'{row["name"]} seed {seed}: {err}')
            print(f'[benchmark_accuracy] {row["name"]} seed {seed} FAILED: '
                  f'{err}', flush=True)

    for row in rows:
        for seed in seeds:
            if args.teacher_once and row['kind'] == 'teacher' and \
                    seed != teacher_seed:
                continue
            if (row['name'], seed) not in tried:
                run(row, seed)
    summary = summarize(rows, records, args.metric)
    table = format_table(summary)
    header = (f'Accuracy benchmark, {datetime.date.today().isoformat()}, '
              f'device {args.device}, seeds {seeds}, teacher seed '
              f'{teacher_seed}; mean ± sample std over seeds, metric '
              f'{next((s["metric"] for s in summary if s.get("metric")), "?")}'
              ' (x100).')
    print(header)
    print(table)
    with open(osp.join(args.work_dir, 'accuracy.md'), 'w') as f:
        f.write(header + '\n\n' + table + '\n')
    with open(osp.join(args.work_dir, 'summary.json'), 'w') as f:
        json.dump(dict(header=header, summary=summary, failures=failures),
                  f, indent=2)
    if failures:
        print('[benchmark_accuracy] failed runs (re-run to resume):\n  ' +
              '\n  '.join(failures))
    return dict(summary=summary, table=table, failures=failures,
                records=records)


if __name__ == '__main__':
    result = main()
    sys.exit(1 if result['failures'] else 0)
