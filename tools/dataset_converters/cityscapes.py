# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Cityscapes gtFine -> mmdet's 8-class detection json (needs
cityscapesscripts: pip install cityscapesscripts).

    python tools/dataset_converters/cityscapes.py data/cityscapes \
        --nproc 2 [--out-dir data/cityscapes/annotations]

Writes <out-dir>/instancesonly_filtered_gtFine_{train,val}.json (the files
configs/_base_/datasets/cityscapes_detection.py reads).
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))

from mmkd_dense.datasets.converters.cityscapes import (  # noqa
    convert_cityscapes_split, require_cityscapesscripts)
from mmkd_dense.datasets.converters._io import USER_ERRORS  # noqa


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('cityscapes_path', help='folder with leftImg8bit, gtFine')
    p.add_argument('--img-dir', default='leftImg8bit')
    p.add_argument('--gt-dir', default='gtFine')
    p.add_argument('-o', '--out-dir',
                   help='default: <cityscapes_path>/annotations')
    p.add_argument('--splits', nargs='+', default=['train', 'val'])
    p.add_argument('--nproc', type=int, default=1)
    p.add_argument('--on-bad-input', default='raise',
                   choices=['raise', 'skip'])
    p.add_argument('--overwrite', action='store_true')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        require_cityscapesscripts()
    except ImportError as e:
        sys.exit(str(e))
    out_dir = args.out_dir or osp.join(args.cityscapes_path, 'annotations')
    for split in args.splits:
        convert_cityscapes_split(
            args.cityscapes_path, out_dir, split, img_subdir=args.img_dir,
            gt_subdir=args.gt_dir, on_bad_input=args.on_bad_input,
            nproc=args.nproc, overwrite=args.overwrite)


def cli(argv=None) -> int:
    """Run :func:`main`; a user error (bad input, refused output, empty
    split) is one line on stderr and exit status 1 instead of a traceback."""
    try:
        main(argv)
    except USER_ERRORS as e:
        print(f'cityscapes: error: {e}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(cli())
