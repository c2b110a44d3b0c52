# Copyright (c) mmkd_dense contributors. All rights reserved.
"""The error raised on malformed dataset input."""
from typing import Optional

__all__ = ['BadInputError']

SKIP_HINT = ("Fix the file, or pass on_bad_input='skip' (converters: "
             '--on-bad-input skip) to skip such entries and get a count.')


class BadInputError(ValueError):
    """A malformed annotation / missing file, located by file and line.

    Args:
        path (str): the offending file.
        line (int, optional): 1-based line number, ``None`` for file-level
            problems (missing image, empty annotation file).
        kind (str): short category, e.g. ``'wrong field count'``.
        detail (str): what was found and what was expected.
    """

    def __init__(self,
                 path: str,
                 line: Optional[int],
                 kind: str,
                 detail: str = '') -> None:
        self.path = path
        self.line = line
        self.kind = kind
        self.detail = detail
        where = f'{path}, line {line}' if line is not None else str(path)
        msg = f'{where}: {kind}'
        if detail:
            msg += f' ({detail})'
        super().__init__(f'{msg}. {SKIP_HINT}')
