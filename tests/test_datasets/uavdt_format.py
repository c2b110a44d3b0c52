# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Writer of tiny UAVDT folders in the official layout (for tests)."""
import os
import os.path as osp
from typing import Dict, Optional, Sequence, Tuple

from .official_format import write_image

__all__ = ['write_uavdt', 'gt_line']


def gt_line(frame: int, target: int, left: float, top: float, width: float,
            height: float, category: int = 1, out_of_view: int = 1,
            occlusion: int = 1) -> str:
    """One ``*_gt_whole.txt`` line (official field order)."""
    return (f'{frame},{target},{left},{top},{width},{height},{out_of_view},'
            f'{occlusion},{category}')


def ignore_line(frame: int, left: float, top: float, width: float,
                height: float) -> str:
    """One ``*_gt_ignore.txt`` line (placeholders -1 as in the release)."""
    return f'{frame},-1,{left},{top},{width},{height},-1,-1,-1'


def write_uavdt(root: str,
                sequences: Dict[str, Tuple[int, Sequence[str],
                                           Optional[Sequence[str]]]],
                size: Tuple[int, int] = (216, 108),
                real_frames: Optional[int] = None) -> Dict[str, str]:
    """Write ``<root>/UAV-benchmark-M/<seq>/img######.jpg`` and
    ``<root>/UAV-benchmark-MOTD_v1.0/GT/<seq>_gt_{whole,ignore}.txt``.

    Args:
        sequences: name -> (number of frames, gt_whole lines, gt_ignore
            lines or ``None`` for no ignore file).
        size: (width, height) of every frame.
        real_frames: write real JPEGs only for the first ``real_frames``
            frames of each sequence (the converter reads one frame size per
            sequence); the others are empty files. Default: all real.

    Returns:
        dict: ``img_dir`` and ``gt_dir``.
    """
    width, height = size
    img_dir = osp.join(root, 'UAV-benchmark-M')
    gt_dir = osp.join(root, 'UAV-benchmark-MOTD_v1.0', 'GT')
    os.makedirs(gt_dir, exist_ok=True)
    for s, (seq, (num_frames, whole, ignore)) in enumerate(
            sorted(sequences.items())):
        seq_dir = osp.join(img_dir, seq)
        os.makedirs(seq_dir, exist_ok=True)
        for f in range(1, num_frames + 1):
            path = osp.join(seq_dir, f'img{f:06d}.jpg')
            if real_frames is None or f <= real_frames:
                write_image(path, width, height, seed=s * 1000 + f)
            else:
                open(path, 'wb').close()
        with open(osp.join(gt_dir, f'{seq}_gt_whole.txt'), 'w') as fh:
            fh.write(''.join(f'{line}\n' for line in whole))
        if ignore is not None:
            with open(osp.join(gt_dir, f'{seq}_gt_ignore.txt'), 'w') as fh:
                fh.write(''.join(f'{line}\n' for line in ignore))
    return dict(img_dir=img_dir, gt_dir=gt_dir)
