# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Deterministic COCO-format dataset of many small handwritten digits.

Real handwritten digits (scikit-learn's bundled 8x8 ``load_digits`` set,
1797 samples) are scattered at several scales over textured colour
backgrounds. Train and val images use disjoint digit samples. The task has
the traits KD for dense detection targets: many small objects per image and
cluttered backgrounds, yet it trains in minutes on a CPU.
"""
import json
import os
import os.path as osp
from typing import Dict, List, Tuple

import numpy as np

__all__ = ['DIGIT_CLASSES', 'generate_digits_dataset']

DIGIT_CLASSES = tuple(str(i) for i in range(10))
_STAMP = '.mmkd_digits_stamp.json'


def _texture(rng: np.random.RandomState, size: int) -> np.ndarray:
    """Smooth random colour field plus fine noise, uint8 ``(size, size, 3)``."""
    import cv2
    coarse = rng.rand(rng.randint(3, 9), rng.randint(3, 9), 3)
    field = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)
    stripes = np.sin(np.linspace(0, rng.uniform(2, 12) * np.pi, size))
    field += 0.15 * stripes[None, :, None] * rng.rand(3)[None, None]
    field = field * 150 + 40 + rng.randn(size, size, 3) * 12
    return np.clip(field, 0, 255)


def _render_image(rng: np.random.RandomState, digits: np.ndarray,
                  labels: np.ndarray, pool: np.ndarray, size: int,
                  num_range: Tuple[int, int], scale_range: Tuple[int, int]
                  ) -> Tuple[np.ndarray, List[Tuple[List[float], int]]]:
    import cv2
    img = _texture(rng, size)
    placed: List[np.ndarray] = []
    objects = []
    for _ in range(rng.randint(num_range[0], num_range[1] + 1)):
        k = pool[rng.randint(len(pool))]
        side = int(rng.randint(scale_range[0], scale_range[1] + 1))
        for _attempt in range(10):
            x0 = rng.randint(0, size - side + 1)
            y0 = rng.randint(0, size - side + 1)
            box = np.array([x0, y0, x0 + side, y0 + side], dtype=np.float32)
            if all(_overlap(box, other) < 0.15 for other in placed):
                break
        else:
            continue
        alpha = cv2.resize(digits[k] / 16.0, (side, side),
                           interpolation=cv2.INTER_LINEAR)
        alpha = np.clip(alpha * 1.3, 0, 1)
        ys, xs = np.nonzero(alpha > 0.25)
        if len(xs) == 0:
            continue
        patch = img[y0:y0 + side, x0:x0 + side]
        mean = patch.mean(axis=(0, 1))
        ink = np.where(mean > 128, rng.uniform(0, 60, 3),
                       rng.uniform(190, 255, 3))
        img[y0:y0 + side, x0:x0 + side] = (
            patch * (1 - alpha[..., None]) + ink * alpha[..., None])
        tight = [x0 + xs.min(), y0 + ys.min(), x0 + xs.max() + 1,
                 y0 + ys.max() + 1]
        placed.append(box)
        objects.append(([float(v) for v in tight], int(labels[k])))
    return np.clip(img, 0, 255).astype(np.uint8), objects


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over the smaller box."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    return float(w * h / min((a[2] - a[0]) * (a[3] - a[1]),
                             (b[2] - b[0]) * (b[3] - b[1])))


def generate_digits_dataset(out_dir: str,
                            num_train: int = 400,
                            num_val: int = 100,
                            image_size: int = 128,
                            num_range: Tuple[int, int] = (4, 10),
                            scale_range: Tuple[int, int] = (10, 28),
                            seed: int = 0) -> Dict[str, str]:
    """Write ``out_dir/{train,val}/*.png`` and
    ``out_dir/annotations/instances_{train,val}.json``.

    The call is idempotent: when ``out_dir`` already holds a dataset made with
    the same parameters it returns at once; it refuses to write into a
    non-empty directory that it did not create.

    Returns:
        dict: split -> annotation file.
    """
    import cv2
    from sklearn.datasets import load_digits

    params = dict(num_train=num_train, num_val=num_val,
                  image_size=image_size, num_range=list(num_range),
                  scale_range=list(scale_range), seed=seed, version=1)
    ann_files = {s: osp.join(out_dir, 'annotations', f'instances_{s}.json')
                 for s in ('train', 'val')}
    stamp = osp.join(out_dir, _STAMP)
    if osp.isfile(stamp):
        with open(stamp) as f:
            if json.load(f) == params and all(
                    osp.isfile(p) for p in ann_files.values()):
                return ann_files
    if osp.isdir(out_dir) and os.listdir(out_dir) and not osp.isfile(stamp):
        raise FileExistsError(
            f'{out_dir} is not empty and was not made by this generator; '
            'choose another --out-dir (nothing was written).')

    data = load_digits()
    rng = np.random.RandomState(seed)
    order = rng.permutation(len(data.images))
    split_at = int(len(order) * 0.8)
    pools = dict(train=order[:split_at], val=order[split_at:])
    os.makedirs(osp.join(out_dir, 'annotations'), exist_ok=True)
    for split, count in (('train', num_train), ('val', num_val)):
        os.makedirs(osp.join(out_dir, split), exist_ok=True)
        images, annotations = [], []
        split_rng = np.random.RandomState(seed * 1000 + len(split))
        for i in range(count):
            img, objects = _render_image(split_rng, data.images, data.target,
                                         pools[split], image_size, num_range,
                                         scale_range)
            name = f'{split}_{i:05d}.png'
            cv2.imwrite(osp.join(out_dir, split, name), img)
            images.append(dict(id=i + 1, file_name=name, width=image_size,
                               height=image_size))
            for (x1, y1, x2, y2), label in objects:
                annotations.append(
                    dict(id=len(annotations) + 1, image_id=i + 1,
                         category_id=label + 1,
                         bbox=[x1, y1, x2 - x1, y2 - y1],
                         area=(x2 - x1) * (y2 - y1), iscrowd=0))
        with open(ann_files[split], 'w') as f:
            json.dump(dict(images=images, annotations=annotations,
                           categories=[dict(id=i + 1, name=n)
                                       for i, n in enumerate(DIGIT_CLASSES)]),
                      f)
    with open(stamp, 'w') as f:
        json.dump(params, f)
    return ann_files
