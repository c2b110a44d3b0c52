# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Reader for VisDrone2019-DET annotation txt files."""
from typing import Dict, Optional

import numpy as np

from .bad_input_handler import BadInputHandler

__all__ = ['read_visdrone_annotations', 'VISDRONE_NUM_FIELDS']

#: bbox_left, bbox_top, bbox_width, bbox_height, score, object_category,
#: truncation, occlusion
VISDRONE_NUM_FIELDS = 8


def read_visdrone_annotations(path: str,
                              handler: Optional[BadInputHandler] = None,
                              allow_empty: bool = False) -> Dict:
    """Read one VisDrone-DET ground-truth file.

    Each line is ``left,top,width,height,score,category,truncation,
    occlusion`` (integers; a trailing comma is tolerated). Categories:
    0 ignored region, 1..10 objects, 11 others. GT ``score`` 0 means
    "ignored in evaluation".

    Args:
        path (str): the ``.txt`` file.
        handler (BadInputHandler, optional): bad-input policy; default
            raises on the first problem.
        allow_empty (bool): a file without lines is a valid negative image.

    Returns:
        dict: ``boxes`` float64 (n, 4) as (left, top, width, height),
        ``categories``, ``scores``, ``truncation``, ``occlusion`` int64
        (n,), ``lines`` int64 (n,) 1-based line numbers, ``empty`` bool.
    """
    handler = handler or BadInputHandler('raise')
    rows, lines = [], []
    with open(path) as f:
        raw_lines = f.read().splitlines()
    nonblank = 0
    for lineno, raw in enumerate(raw_lines, start=1):
        line = raw.strip()
        if not line:
            continue
        nonblank += 1
        fields = [v.strip() for v in line.split(',')]
        if len(fields) == VISDRONE_NUM_FIELDS + 1 and fields[-1] == '':
            fields = fields[:-1]  # trailing comma
        if len(fields) != VISDRONE_NUM_FIELDS:
            handler.report(
                'wrong field count', path, lineno,
                f'expected {VISDRONE_NUM_FIELDS} comma-separated fields '
                '"left,top,width,height,score,category,truncation,'
                f'occlusion", found {len(fields)}: {line!r}')
            continue
        try:
            values = [int(float(v)) for v in fields]
        except ValueError:
            handler.report('malformed value', path, lineno,
                           f'non-numeric field in {line!r}')
            continue
        _, _, w, h, _, cat, _, _ = values
        if w <= 0 or h <= 0:
            handler.report('negative size', path, lineno,
                           f'width {w} / height {h} must be positive')
            continue
        if not 0 <= cat <= 11:
            handler.report('unknown class', path, lineno,
                           f'object_category {cat} is not in 0..11')
            continue
        rows.append(values)
        lines.append(lineno)
    if nonblank == 0 and not allow_empty:
        handler.report('empty annotation file', path, None,
                       'no annotation line; pass allow_empty '
                       '(--allow-empty) to keep the image as a negative')
    arr = np.asarray(rows, dtype=np.int64).reshape(-1, VISDRONE_NUM_FIELDS)
    return dict(boxes=arr[:, :4].astype(np.float64), scores=arr[:, 4],
                categories=arr[:, 5], truncation=arr[:, 6],
                occlusion=arr[:, 7], lines=np.asarray(lines, dtype=np.int64),
                empty=nonblank == 0)
