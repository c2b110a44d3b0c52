# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Split DOTA v1.0 / v1.5 into 1024x1024 patches with horizontal boxes.

    python tools/dataset_converters/dota_split.py data/DOTA/train \
        data/DOTA/split_1024 --split train
    python tools/dataset_converters/dota_split.py data/DOTA/val \
        data/DOTA/split_1024 --split val
    python tools/dataset_converters/dota_split.py data/DOTA/test \
        data/DOTA/split_1024 --split test --no-labels

Reads <src>/images/*.png and <src>/labelTxt/*.txt; writes
<out>/<split>/images/<name>__1024__<x>___<y>.png,
<out>/annotations/<split>.json (patches) and <split>_full.json (full
images, for the merged evaluation). Objects are kept in a patch when
intersection-over-self >= 0.7 and clipped; difficult -> iscrowd (ignored).
Bad lines / files raise with file and line unless --on-bad-input skip.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))

from mmkd_dense.datasets.converters.dota_split import split_dota  # noqa
from mmkd_dense.datasets.converters._io import USER_ERRORS  # noqa


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('src', help='DOTA split folder (with images/, labelTxt/)')
    p.add_argument('out', help='output root (e.g. data/DOTA/split_1024)')
    p.add_argument('--split', required=True,
                   help='output split name: train, val, trainval or test')
    p.add_argument('--img-dir', default='images',
                   help='image folder inside src')
    p.add_argument('--ann-dir', default='labelTxt',
                   help='label folder inside src')
    p.add_argument('--no-labels', action='store_true',
                   help='images only (DOTA test set)')
    p.add_argument('--version', default='v1.0', choices=['v1.0', 'v1.5'])
    p.add_argument('--size', type=int, default=1024)
    p.add_argument('--gap', type=int, default=200)
    p.add_argument('--iof-thr', type=float, default=0.7)
    p.add_argument('--img-rate-thr', type=float, default=0.6)
    p.add_argument('--on-bad-input', default='raise',
                   choices=['raise', 'skip'])
    p.add_argument('--allow-empty', action='store_true',
                   help='label files without objects are negatives')
    p.add_argument('--nproc', type=int, default=1)
    p.add_argument('--png-compression', type=int, default=None,
                   help='plain zlib level 0-9 (OpenCV default 3); by default '
                   'a fast lossless setting of similar size is used')
    p.add_argument('--overwrite', action='store_true',
                   help='replace a previous output of this split')
    p.add_argument('--quiet', action='store_true')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    split_dota(args.src, args.out, args.split, img_subdir=args.img_dir,
               ann_subdir=None if args.no_labels else args.ann_dir,
               version=args.version, size=args.size, gap=args.gap,
               iof_thr=args.iof_thr, img_rate_thr=args.img_rate_thr,
               on_bad_input=args.on_bad_input,
               allow_empty=args.allow_empty, nproc=args.nproc,
               png_compression=args.png_compression,
               overwrite=args.overwrite, verbose=not args.quiet)


def cli(argv=None) -> int:
    """Run :func:`main`; a user error (bad input, refused output, empty
    split) is one line on stderr and exit status 1 instead of a traceback."""
    try:
        main(argv)
    except USER_ERRORS as e:
        print(f'dota_split: error: {e}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(cli())
