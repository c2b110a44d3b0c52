# Copyright (c) mmkd_dense contributors. All rights reserved.
"""The embedded demo: teacher, student without KD, student with KD.

    python tools/demo/run_demo.py [--method fgd|ds2d2] [--out work_dirs/demo]
                                  [--force]

1. generates the digits dataset (data/digits_demo) if missing;
2. trains, with tools/train.py (a stage is skipped when its checkpoint
   exists, unless --force):

   - ``--method fgd`` (default): the teacher, the student alone and the
     FGD-distilled student;
   - ``--method ds2d2``: the teacher, DS2D2's high-frequency amplifier
     (stage 2), the student with a teacher-wide (64-ch) FPN alone and with
     DS2D2 (stage 3);
3. evaluates every checkpoint with tools/test.py (COCO mAP via pycocotools)
   and prints a table, also saved as <out>/results[_METHOD].md and .json.
"""
import argparse
import json
import os
import os.path as osp
import re
import subprocess
import sys
import time

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, REPO)

TEACHER_CFG = 'configs/demo/retinanet_r18c32_fpn_12e_digits.py'
STUDENT_CFG = 'configs/demo/retinanet_r18c16_fpn_12e_digits.py'
KD_CFG = 'configs/demo/fgd_fpn_retina-r18c32_retina-r18c16_12e_digits.py'
STUDENT64_CFG = 'configs/demo/retinanet_r18c16_fpn64_12e_digits.py'
AMPLIFIER_CFG = 'configs/ds2d2/ds2d2_hf-amplifier_retina-r18c32_12e_digits.py'
DS2D2_CFG = ('configs/ds2d2/'
             'ds2d2_fpn_retina-r18c32_retina-r18c16-fpn64_12e_digits.py')
METHODS = ('fgd', 'ds2d2')


def stage_runs(out: str, method: str = 'fgd'):
    """(name, description, config, extra train options) of each run; the
    last two rows are the no-KD student and the distilled student."""
    teacher_ckpt = osp.join(out, 'teacher', 'epoch_12.pth')
    teacher = ('teacher', 'teacher RetinaNet R18-c32', TEACHER_CFG, [])
    if method == 'fgd':
        return [
            teacher,
            ('student', 'student RetinaNet R18-c16, no KD', STUDENT_CFG, []),
            ('fgd', 'student R18-c16 + FGD from teacher', KD_CFG,
             [f'model.teacher_ckpt={teacher_ckpt}']),
        ]
    if method == 'ds2d2':
        amplifier_ckpt = osp.join(out, 'ds2d2_hf_amplifier', 'epoch_12.pth')
        return [
            teacher,
            ('ds2d2_hf_amplifier',
             'DS2D2 HF amplifier (teacher head retrained on HF(FPN))',
             AMPLIFIER_CFG, [f'load_from={teacher_ckpt}']),
            ('student_fpn64', 'student RetinaNet R18-c16 FPN 64, no KD',
             STUDENT64_CFG, []),
            ('ds2d2', 'student R18-c16 FPN 64 + DS2D2', DS2D2_CFG,
             [f'model.teacher_ckpt={teacher_ckpt}',
              'model.distiller.distill_losses.loss_ds2d2_hf.'
              f'amplifier_ckpt={amplifier_ckpt}']),
        ]
    raise ValueError(f'--method {method!r} is not one of {METHODS}')


def run(cmd, tag: str, log_file: str) -> float:
    """Run ``cmd`` streaming a compact progress line per log record."""
    start = time.time()
    keep = re.compile(r'Epoch\(train\).*\]\[(10|50)/|coco/bbox_mAP|'
                      r'Saving checkpoint|^\w*Error|Traceback')
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep +
               os.environ.get('PYTHONPATH', ''))
    with open(log_file, 'w') as log:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env,
                                stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        for line in proc.stdout:
            log.write(line)
            if keep.search(line):
                msg = line.split(' - mmengine - INFO - ')[-1].strip()
                print(f'[demo {tag} {time.time() - start:6.0f}s] {msg[:150]}',
                      flush=True)
        code = proc.wait()
    if code != 0:
        sys.exit(f'[demo] {tag} failed (exit {code}); see {log_file}')
    return time.time() - start


def count_params(config: str) -> float:
    import mmkd_dense  # noqa: F401
    from mmengine.config import Config

    from mmkd_dense.testing import build_model_from_cfg
    cfg = Config.fromfile(osp.join(REPO, config))
    # only the student is counted: do not load the DS2D2 amplifier (its
    # checkpoint may live under another --out)
    for loss in cfg.model.get('distiller', {}).get('distill_losses',
                                                   {}).values():
        if 'amplifier_ckpt' in loss:
            loss.amplifier_ckpt = None
    model = build_model_from_cfg(cfg)
    model = getattr(model, 'student', model)
    return sum(p.numel() for p in model.parameters()) / 1e6


def data_options(data: str) -> list:
    """``--cfg-options`` that point every split and evaluator at ``data``
    (a COCO-layout folder with ``annotations/instances_{train,val}.json``).
    """
    root = data.rstrip('/') + '/'
    ann = f'{root}annotations/instances_val.json'
    return [f'train_dataloader.dataset.data_root={root}',
            f'val_dataloader.dataset.data_root={root}',
            f'test_dataloader.dataset.data_root={root}',
            f'val_evaluator.ann_file={ann}',
            f'test_evaluator.ann_file={ann}']


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--method', choices=METHODS, default='fgd',
                        help='distillation method of the demo')
    parser.add_argument('--out', default='work_dirs/demo')
    parser.add_argument('--data', default='data/digits_demo')
    parser.add_argument('--force', action='store_true',
                        help='retrain even if checkpoints exist')
    args = parser.parse_args()
    out = args.out
    os.makedirs(osp.join(REPO, out), exist_ok=True)
    t0 = time.time()

    from mmkd_dense.demo import generate_digits_dataset
    print(f'[demo] dataset -> {args.data}', flush=True)
    generate_digits_dataset(osp.join(REPO, args.data))

    py = sys.executable
    rows = []
    stages = stage_runs(out, args.method)
    for i, (name, desc, config, options) in enumerate(stages, 1):
        tag = f'{i}/{len(stages)} {name}'
        work = osp.join(out, name)
        ckpt = osp.join(work, 'epoch_12.pth')
        train_s = None
        if args.force or not osp.isfile(osp.join(REPO, ckpt)):
            print(f'[demo {tag}] training: {desc}', flush=True)
            cmd = [py, 'tools/train.py', config, '--work-dir', work,
                   '--cfg-options', *data_options(args.data), *options]
            train_s = run(cmd, tag, osp.join(REPO, out, f'{name}_train.log'))
        else:
            print(f'[demo {tag}] reusing {ckpt}', flush=True)
        metrics_file = osp.join(out, name, 'test_metrics.json')
        print(f'[demo {tag}] evaluating with tools/test.py', flush=True)
        run([py, 'tools/test.py', config, ckpt, '--work-dir',
             osp.join(work, 'test'), '--metrics-out', metrics_file,
             '--cfg-options', *data_options(args.data), *options],
            tag, osp.join(REPO, out, f'{name}_test.log'))
        with open(osp.join(REPO, metrics_file)) as f:
            metrics = json.load(f)
        rows.append(dict(run=name, model=desc,
                         params_m=round(count_params(config), 2),
                         mAP=metrics['coco/bbox_mAP'],
                         mAP_50=metrics['coco/bbox_mAP_50'],
                         mAP_s=metrics['coco/bbox_mAP_s'],
                         train_s=None if train_s is None else round(train_s)))

    lines = ['| run | model | params (M) | mAP | mAP@50 | mAP_s | train time (s) |',
             '|---|---|---|---|---|---|---|']
    for r in rows:
        lines.append(f"| {r['run']} | {r['model']} | {r['params_m']} | "
                     f"{r['mAP']:.3f} | {r['mAP_50']:.3f} | {r['mAP_s']:.3f} | "
                     f"{r['train_s'] if r['train_s'] is not None else 'reused'} |")
    table = '\n'.join(lines)
    gain = rows[-1]['mAP'] - rows[-2]['mAP']
    summary = (f'{args.method.upper()} student vs no-KD student: {gain:+.3f} '
               f'mAP (teacher {rows[0]["mAP"]:.3f}); total '
               f'{time.time() - t0:.0f} s')
    print('\n' + table + '\n\n' + summary, flush=True)
    suffix = '' if args.method == 'fgd' else f'_{args.method}'
    with open(osp.join(REPO, out, f'results{suffix}.md'), 'w') as f:
        f.write(table + '\n\n' + summary + '\n')
    with open(osp.join(REPO, out, f'results{suffix}.json'), 'w') as f:
        json.dump(dict(rows=rows, kd_gain=gain,
                       total_s=round(time.time() - t0)), f, indent=2)


if __name__ == '__main__':
    main()
