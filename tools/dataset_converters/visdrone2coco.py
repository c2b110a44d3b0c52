# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Convert VisDrone2019-DET annotations to COCO json.

    python tools/dataset_converters/visdrone2coco.py data/VisDrone
    # or one split:
    python tools/dataset_converters/visdrone2coco.py \
        data/VisDrone/VisDrone2019-DET-val \
        --out data/VisDrone/annotations/VisDrone2019-DET_val.json

Given the VisDrone root, converts every VisDrone2019-DET-{train,val,
test-dev} folder found to <root>/annotations/VisDrone2019-DET_<split>.json.
Categories 1..10 -> ids 1..10; category 0 (ignored region), 11 (others)
and score-0 boxes -> iscrowd=1 ignore regions (never dropped, never
trained on). Bad lines / files raise with file and line unless
--on-bad-input skip.
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))

from mmkd_dense.datasets.converters.visdrone import \
    convert_visdrone_split  # noqa
from mmkd_dense.datasets.converters._io import USER_ERRORS  # noqa

SPLITS = ('train', 'val', 'test-dev')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('src', help='VisDrone root or one split folder')
    p.add_argument('--out', help='output json (only with a split folder); '
                   'an existing folder (or a path ending in /) gets the '
                   'default name VisDrone2019-DET_<split>.json inside it')
    p.add_argument('--on-bad-input', default='raise',
                   choices=['raise', 'skip'])
    p.add_argument('--allow-empty', action='store_true',
                   help='empty annotation files are negative images')
    p.add_argument('--overwrite', action='store_true')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    jobs = []
    if osp.isdir(osp.join(args.src, 'annotations')) and osp.isdir(
            osp.join(args.src, 'images')):
        split = osp.basename(osp.normpath(args.src)).replace(
            'VisDrone2019-DET-', '')
        name = f'VisDrone2019-DET_{split}.json'
        out = args.out or osp.join(
            osp.dirname(osp.normpath(args.src)), 'annotations', name)
        if osp.isdir(out) or out.endswith(('/', os.sep)):
            out = osp.join(out, name)
        jobs.append((args.src, out))
    else:
        if args.out:
            sys.exit('--out needs a single split folder as src')
        for split in SPLITS:
            folder = osp.join(args.src, f'VisDrone2019-DET-{split}')
            if osp.isdir(folder):
                jobs.append((folder, osp.join(
                    args.src, 'annotations',
                    f'VisDrone2019-DET_{split}.json')))
        if not jobs:
            sys.exit(f'No VisDrone2019-DET-{{{",".join(SPLITS)}}} folder in '
                     f'{args.src} (see docs/datasets.md for the layout)')
    for folder, out in jobs:
        stats = convert_visdrone_split(
            folder, out, on_bad_input=args.on_bad_input,
            allow_empty=args.allow_empty, overwrite=args.overwrite)
        print(f'{folder}: {stats["images"]} images, {stats["objects"]} '
              f'objects, {stats["ignore_regions"]} ignore regions, '
              f'{stats["class_ignored"]} score-0 boxes -> {out} '
              f'({stats["seconds"]:.1f} s)')
        if stats['skipped_summary']:
            print(stats['skipped_summary'])


def cli(argv=None) -> int:
    """Run :func:`main`; a user error (bad input, refused output) is one
    line on stderr and exit status 1 instead of a traceback."""
    try:
        main(argv)
    except USER_ERRORS as e:
        print(f'visdrone2coco: error: {e}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(cli())
