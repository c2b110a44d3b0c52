# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Output helpers shared by the converters: never write over inputs."""
import json
import os
import os.path as osp
from typing import Iterable

from ..bad_input_error import BadInputError

__all__ = [
    'check_output_path', 'check_disjoint', 'write_json_atomic',
    'OutputPathError', 'USER_ERRORS'
]


class OutputPathError(ValueError):
    """An output location that would write over or into the input."""


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
        OutputPathError: ``out_path`` is an input folder or inside one.
        FileExistsError: the output exists and ``overwrite`` is False.
        IsADirectoryError: a file output names an existing folder.
    """
    for folder in input_dirs:
        if folder and _inside(out_path, folder):
            raise OutputPathError(
                f'Refusing to write {out_path}: it is inside the input '
                f'folder {folder}; converters never write over their inputs. '
                'Choose another output location.')
    if not is_dir and osp.isdir(out_path):
        raise IsADirectoryError(
            f'{out_path} is a folder, but the output must be a file (a '
            '.json path); nothing was written.')
    if not overwrite:
        exists = (osp.isdir(out_path) and len(os.listdir(out_path)) > 0) \
            if is_dir else osp.exists(out_path)
        if exists:
            raise FileExistsError(
                f'{out_path} already exists; pass --overwrite to replace '
                'the previous conversion output.')


def check_disjoint(src_dir: str, out_dir: str, src_name: str = 'SRC',
                   out_name: str = 'OUT') -> None:
    """Refuse an output folder that is, contains or lies inside the input
    folder (checked on real paths, so symlinks and ``..`` do not hide it).

    Args:
        src_dir (str): the input folder.
        out_dir (str): the output root.
        src_name (str): how the command line calls ``src_dir``.
        out_name (str): how the command line calls ``out_dir``.

    Raises:
        OutputPathError: naming both paths.
    """
    src_real, out_real = osp.realpath(src_dir), osp.realpath(out_dir)
    if src_real == out_real:
        how = 'is the same folder as'
    elif _inside(out_real, src_real):
        how = 'is inside'
    elif _inside(src_real, out_real):
        how = 'contains'
    else:
        return
    raise OutputPathError(
        f'Refusing to write: the output folder {out_name}={out_dir} {how} '
        f'the input folder {src_name}={src_dir}; converters never write '
        'over their inputs, into or around them. Choose an output folder that '
        f'neither contains nor lies inside {src_dir} (e.g. next to it).')


def write_json_atomic(obj: dict, path: str) -> None:
    """Write json to ``path`` via a temporary file + rename.

    The temporary file (``<path>.tmp<pid>``) is removed when anything fails
    (e.g. ``path`` is a folder), so no stray file is left behind.

    Raises:
        IsADirectoryError: ``path`` is an existing folder.
    """
    if osp.isdir(path):
        raise IsADirectoryError(
            f'Cannot write the json to {path}: it is a folder. Give a file '
            'name ending in .json.')
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    tmp = f'{path}.tmp{os.getpid()}'
    try:
        with open(tmp, 'w') as f:
            # json.dumps runs the C encoder; json.dump(obj, f) streams
            # through the pure-Python one (~3x slower on large jsons)
            f.write(json.dumps(obj))
        os.replace(tmp, path)
    except BaseException:
        if osp.lexists(tmp):
            os.remove(tmp)
        raise


#: Exceptions a converter CLI reports as one line (exit status 1): bad
#: input, refused or existing outputs, missing inputs or an empty split.
USER_ERRORS = (BadInputError, OutputPathError, FileExistsError,
               FileNotFoundError, IsADirectoryError)
