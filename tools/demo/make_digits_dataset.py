# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Generate the embedded digits detection dataset (COCO format).

    python tools/demo/make_digits_dataset.py --out-dir data/digits_demo
"""
import argparse
import json
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))

from mmkd_dense.demo import generate_digits_dataset  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--out-dir', default='data/digits_demo')
    parser.add_argument('--num-train', type=int, default=400)
    parser.add_argument('--num-val', type=int, default=100)
    parser.add_argument('--image-size', type=int, default=128)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    files = generate_digits_dataset(
        args.out_dir, num_train=args.num_train, num_val=args.num_val,
        image_size=args.image_size, seed=args.seed)
    for split, path in files.items():
        with open(path) as f:
            data = json.load(f)
        print(f'{split}: {len(data["images"])} images, '
              f'{len(data["annotations"])} digits -> {path}')


if __name__ == '__main__':
    main()
