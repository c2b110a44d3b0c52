# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Output helpers shared by the converters: never write over inputs."""
import json
import os
import os.path as osp
from typing import Iterable

__all__ = ['check_output_path', 'write_json_atomic']


def _inside(path: str, folder: str) -> bool:
    path, folder = osp.realpath(path), osp.realpath(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def check_output_path(out_path: str, input_dirs: Iterable[str],
                      overwrite: bool = False, is_dir: bool = False) -> None:
    """Refuse outputs that would land on or inside an input folder.

    Args:
        out_path (str): file or folder the converter will write.
        input_dirs (Iterable[str]): folders holding the inputs.
        overwrite (bool): allow replacing an existing *output*.
        is_dir (bool): ``out_path`` is a folder of written files.

    Raises:
        ValueError: ``out_path`` is an input folder or inside one.
        FileExistsError: the output exists and ``overwrite`` is False.
    """
    for folder in input_dirs:
        if folder and _inside(out_path, folder):
            raise ValueError(
                f'Refusing to write {out_path}: it is inside the input '
                f'folder {folder}; converters never write over their inputs. '
                'Choose another output location.')
    if not overwrite:
        exists = (osp.isdir(out_path) and len(os.listdir(out_path)) > 0) \
            if is_dir else osp.exists(out_path)
        if exists:
            raise FileExistsError(
                f'{out_path} already exists; pass --overwrite to replace '
                'the previous conversion output.')


def write_json_atomic(obj: dict, path: str) -> None:
    """Write json to ``path`` via a temporary file + rename."""
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    tmp = f'{path}.tmp{os.getpid()}'
    with open(tmp, 'w') as f:
        json.dump(obj, f)
    os.replace(tmp, path)
