# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Reader for DOTA ``labelTxt`` files (v1.0 / v1.5 / v2.0 layout)."""
from typing import Dict, Optional, Sequence

import numpy as np

from .bad_input_handler import BadInputHandler

__all__ = ['read_dota_labels', 'DOTA_HEADER_KEYS']

#: Optional header lines before the objects, e.g. ``imagesource:GoogleEarth``
#: and ``gsd:0.146343590398`` (``gsd:null`` also occurs).
DOTA_HEADER_KEYS = ('imagesource', 'gsd')


def read_dota_labels(path: str,
                     class_names: Sequence[str],
                     handler: Optional[BadInputHandler] = None,
                     allow_empty: bool = False) -> Dict:
    """Read one DOTA label file.

    Each object line is ``x1 y1 x2 y2 x3 y3 x4 y4 class difficult`` (the
    trailing ``difficult`` may be missing, then 0). Header lines
    ``imagesource:...`` / ``gsd:...`` are optional. Class names match
    case-insensitively.

    Args:
        path (str): the ``.txt`` label file.
        class_names (Sequence[str]): classes; label = index in this list.
        handler (BadInputHandler, optional): bad-input policy; default
            raises on the first problem.
        allow_empty (bool): a file without objects is a valid negative
            image instead of a bad input.

    Returns:
        dict: ``polys`` float64 (n, 8), ``labels`` int64 (n,),
        ``difficult`` bool (n,), ``lines`` int64 (n,) 1-based line numbers,
        ``meta`` dict of the header values, ``empty`` bool (the file has
        no object line at all).
    """
    handler = handler or BadInputHandler('raise')
    class_map = {c.lower(): i for i, c in enumerate(class_names)}
    polys, labels, difficult, lines = [], [], [], []
    meta: Dict[str, str] = {}
    with open(path) as f:
        raw_lines = f.read().splitlines()
    for lineno, raw in enumerate(raw_lines, start=1):
        line = raw.strip()
        if not line:
            continue
        key, sep, value = line.partition(':')
        if sep and key.strip().lower() in DOTA_HEADER_KEYS:
            meta[key.strip().lower()] = value.strip()
            continue
        fields = line.split()
        if len(fields) not in (9, 10):
            handler.report(
                'wrong field count', path, lineno,
                f'expected 10 fields "x1 y1 ... x4 y4 class difficult" '
                f'(or 9 without difficult), found {len(fields)}: {line!r}')
            continue
        numeric = [_is_number(v) for v in fields]
        if not all(numeric[:8]):
            if numeric.count(False) == 1:  # the class is not 9th
                handler.report(
                    'wrong field count', path, lineno,
                    f'expected 8 coordinates before the class name, found '
                    f'{numeric.index(False)}: {line!r}')
            else:
                handler.report('malformed value', path, lineno,
                               f'non-numeric coordinate in {line!r}')
            continue
        coords = [float(v) for v in fields[:8]]
        label = class_map.get(fields[8].lower())
        if label is None:
            handler.report('unknown class', path, lineno,
                           f'{fields[8]!r} is not one of {list(class_names)}')
            continue
        diff = 0
        if len(fields) == 10:
            try:
                diff = int(float(fields[9]))
            except ValueError:
                handler.report('malformed value', path, lineno,
                               f'difficult flag {fields[9]!r} is not 0/1')
                continue
        xs, ys = coords[0::2], coords[1::2]
        if max(xs) - min(xs) <= 0 or max(ys) - min(ys) <= 0 or \
                _hull_area(coords) <= 0:
            handler.report('negative size', path, lineno,
                           f'polygon {coords} has no area')
            continue
        polys.append(coords)
        labels.append(label)
        difficult.append(diff > 0)
        lines.append(lineno)
    empty = not _had_object_lines(raw_lines)
    if empty and not allow_empty:
        handler.report('empty annotation file', path, None,
                       'no object line; pass allow_empty (--allow-empty) '
                       'to keep object-less images as negatives')
    return dict(
        polys=np.asarray(polys, dtype=np.float64).reshape(-1, 8),
        labels=np.asarray(labels, dtype=np.int64),
        difficult=np.asarray(difficult, dtype=bool),
        lines=np.asarray(lines, dtype=np.int64),
        meta=meta, empty=bool(empty))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _had_object_lines(raw_lines: Sequence[str]) -> bool:
    for raw in raw_lines:
        line = raw.strip()
        if not line:
            continue
        key, sep, _ = line.partition(':')
        if sep and key.strip().lower() in DOTA_HEADER_KEYS:
            continue
        return True
    return False


def _hull_area(coords: Sequence[float]) -> float:
    """Area of the convex hull of the 4 points (robust to vertex order)."""
    pts = sorted(zip(coords[0::2], coords[1::2]))

    def cross(o, a, b):
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower, upper = [], []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    hull = lower[:-1] + upper[:-1]
    area = 0.0
    for i in range(len(hull)):
        x1, y1 = hull[i]
        x2, y2 = hull[(i + 1) % len(hull)]
        area += x1 * y2 - x2 * y1
    return abs(area) / 2.0
