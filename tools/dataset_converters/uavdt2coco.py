# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Convert UAVDT (UAV-benchmark-M, DET ground truth) to COCO json.

    python tools/dataset_converters/uavdt2coco.py data/UAVDT
    # one split, every 10th frame:
    python tools/dataset_converters/uavdt2coco.py data/UAVDT --split train \
        --frame-step 10 --out data/UAVDT/annotations/UAVDT_train_step10.json
    # own sequence list (text file of names, or an M_attr/<split> folder):
    python tools/dataset_converters/uavdt2coco.py data/UAVDT \
        --seq-list data/UAVDT/M_attr/test --out data/UAVDT/annotations/x.json

Reads <root>/UAV-benchmark-M/M####/img######.jpg and
<root>/UAV-benchmark-MOTD_v1.0/GT/M####_gt_whole.txt + M####_gt_ignore.txt.
Without --split / --seq-list converts the common split (30 train / 20 test
sequences) to <root>/annotations/UAVDT_{train,test}.json. Categories 1 car,
2 truck, 3 bus -> ids 1..3; ignore regions -> iscrowd=1 (one copy per
class). Bad lines raise with file and line unless --on-bad-input skip;
outputs never go inside the input folders and are not replaced without
--overwrite.
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))

from mmkd_dense.datasets.converters._io import USER_ERRORS  # noqa: E402
from mmkd_dense.datasets.converters.uavdt import (  # noqa: E402
    convert_uavdt_split, find_uavdt_dirs, resolve_uavdt_sequences)

SPLITS = ('train', 'test')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('root', help='extracted UAVDT root (see docs/datasets.md)')
    p.add_argument('--split', nargs='+', choices=['train', 'test', 'all'],
                   help='built-in sequence lists (default: train test)')
    p.add_argument('--seq-list',
                   help='text file of sequence names or M_attr/<split> '
                   'folder (needs --out)')
    p.add_argument('--out',
                   help='output json (one split / --seq-list); with one '
                   '--split, an existing folder (or a path ending in /) gets '
                   'UAVDT_<split>.json inside it')
    p.add_argument('--out-dir',
                   help='folder of UAVDT_<split>.json (default '
                   '<root>/annotations)')
    p.add_argument('--img-dir', help='default <root>/UAV-benchmark-M')
    p.add_argument('--gt-dir',
                   help='default <root>/UAV-benchmark-MOTD_v1.0/GT')
    p.add_argument('--frame-step', type=int, default=1,
                   help='keep frames 1, 1+k, 1+2k, ... (default 1: all; '
                   'the benchmark tests on every frame)')
    p.add_argument('--on-bad-input', default='raise',
                   choices=['raise', 'skip'])
    p.add_argument('--overwrite', action='store_true')
    p.add_argument('--quiet', action='store_true',
                   help='no per-sequence progress lines')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.frame_step < 1:
        sys.exit(f'--frame-step must be >= 1, got {args.frame_step}')
    img_dir, gt_dir = find_uavdt_dirs(args.root, args.img_dir, args.gt_dir)
    if args.seq_list and args.split:
        sys.exit('give either --split or --seq-list, not both')
    jobs = []
    if args.seq_list:
        if not args.out:
            sys.exit('--seq-list needs --out (the output json)')
        try:
            sequences = resolve_uavdt_sequences(seq_list=args.seq_list)
        except ValueError as e:  # an empty list / M_attr folder
            sys.exit(f'uavdt2coco: error: {e}')
        jobs.append(('seq-list', sequences, args.out))
    else:
        splits = args.split or list(SPLITS)
        if args.out and len(splits) != 1:
            sys.exit('--out needs exactly one --split')
        out_dir = args.out_dir or osp.join(args.root, 'annotations')
        for split in splits:
            name = f'UAVDT_{split}.json'
            out = args.out or osp.join(out_dir, name)
            if osp.isdir(out) or out.endswith(('/', os.sep)):
                out = osp.join(out, name)
            jobs.append((split, resolve_uavdt_sequences(
                split, img_dir=img_dir), out))
    for name, sequences, out in jobs:
        stats = convert_uavdt_split(
            args.root, out, sequences, img_dir=img_dir, gt_dir=gt_dir,
            frame_step=args.frame_step, on_bad_input=args.on_bad_input,
            overwrite=args.overwrite, progress=not args.quiet)
        fps = stats['images'] / max(stats['seconds'], 1e-9)
        print(f'{name}: {stats["sequences"]} sequences, {stats["images"]} '
              f'frames (step {args.frame_step}), {stats["objects"]} objects, '
              f'{stats["ignore_regions"]} ignore regions, '
              f'{stats["clipped"]} boxes clipped to the frame -> {out} '
              f'({stats["seconds"]:.1f} s, {fps:.0f} frames/s)')
        if stats['no_ignore_file']:
            print(f'  no *_gt_ignore.txt (no ignore regions) for: '
                  f'{", ".join(stats["no_ignore_file"])}')
        if stats['skipped_summary']:
            print(stats['skipped_summary'])


def cli(argv=None) -> int:
    """Run :func:`main`; a user error (bad input, missing folders, refused
    output) is one line on stderr and exit status 1 instead of a
    traceback."""
    try:
        main(argv)
    except USER_ERRORS as e:
        print(f'uavdt2coco: error: {e}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(cli())
