# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Class lists of the datasets mmkd_dense adds (official spellings).

Sources: DIOR (Li et al., ISPRS 2020) and its DIOR-R release, DOTA v1.0 /
v1.5 devkit, VisDrone2019-DET toolkit (category ids 1..10), Cityscapes
instance classes (``cityscapesscripts.helpers.labels``, ``hasInstances``).
"""
from typing import List, Sequence, Tuple

__all__ = [
    'DIOR_CLASSES', 'DOTA_V10_CLASSES', 'DOTA_V15_CLASSES',
    'VISDRONE_CLASSES', 'VISDRONE_IGNORE_CATEGORIES',
    'CITYSCAPES_INSTANCE_CLASSES', 'make_palette'
]

DIOR_CLASSES: Tuple[str, ...] = (
    'airplane', 'airport', 'baseballfield', 'basketballcourt', 'bridge',
    'chimney', 'dam', 'Expressway-Service-area', 'Expressway-toll-station',
    'golffield', 'groundtrackfield', 'harbor', 'overpass', 'ship', 'stadium',
    'storagetank', 'tenniscourt', 'trainstation', 'vehicle', 'windmill')

DOTA_V10_CLASSES: Tuple[str, ...] = (
    'plane', 'baseball-diamond', 'bridge', 'ground-track-field',
    'small-vehicle', 'large-vehicle', 'ship', 'tennis-court',
    'basketball-court', 'storage-tank', 'soccer-ball-field', 'roundabout',
    'harbor', 'swimming-pool', 'helicopter')

DOTA_V15_CLASSES: Tuple[str, ...] = DOTA_V10_CLASSES + ('container-crane', )

#: VisDrone2019-DET categories 1..10 (label = category - 1).
VISDRONE_CLASSES: Tuple[str, ...] = (
    'pedestrian', 'people', 'bicycle', 'car', 'van', 'truck', 'tricycle',
    'awning-tricycle', 'bus', 'motor')

#: VisDrone categories that are regions to ignore, not objects:
#: 0 = "ignored regions", 11 = "others".
VISDRONE_IGNORE_CATEGORIES: Tuple[int, ...] = (0, 11)

#: The 8 Cityscapes classes of mmdet's CityscapesDataset (label ids 24..33).
CITYSCAPES_INSTANCE_CLASSES: Tuple[str, ...] = (
    'person', 'rider', 'car', 'truck', 'bus', 'train', 'motorcycle',
    'bicycle')


def make_palette(classes: Sequence[str]) -> List[Tuple[int, int, int]]:
    """Deterministic, well-spread RGB colours, one per class.

    Args:
        classes (Sequence[str]): class names.

    Returns:
        list[tuple[int, int, int]]: one colour per class.
    """
    palette = []
    for i in range(len(classes)):
        hue = (i * 0.618033988749895) % 1.0
        # simple HSV -> RGB with s = 0.75, v = 0.9
        h6 = hue * 6.0
        sector = int(h6) % 6
        frac = h6 - int(h6)
        v, s = 0.9, 0.75
        p, q, t = v * (1 - s), v * (1 - s * frac), v * (1 - s * (1 - frac))
        rgb = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v),
               (v, p, q)][sector]
        palette.append(tuple(int(round(255 * c)) for c in rgb))
    return palette
