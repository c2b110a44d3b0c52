# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Policy for malformed dataset input: raise (default) or skip with counts."""
from collections import Counter
from typing import List, Optional

from .bad_input_error import BadInputError

__all__ = ['BadInputHandler', 'ON_BAD_INPUT_MODES']

ON_BAD_INPUT_MODES = ('raise', 'skip')


class BadInputHandler:
    """Collects or raises problems found while reading annotations.

    Every loader and converter in :mod:`mmkd_dense.datasets` reports each
    problem here, so nothing is ever dropped silently: with ``mode='raise'``
    the first problem raises :class:`BadInputError` naming the file and
    line; with ``mode='skip'`` the entry (a line/object, or a whole image for
    file-level problems) is skipped, counted per kind, and
    :meth:`summary` / :meth:`log` report the counts and a few examples.

    Args:
        mode (str): ``'raise'`` or ``'skip'``.
        source (str): name used in the summary (dataset or converter).
        max_examples (int): how many located examples the summary keeps.
    """

    def __init__(self,
                 mode: str = 'raise',
                 source: str = '',
                 max_examples: int = 5) -> None:
        if mode not in ON_BAD_INPUT_MODES:
            raise ValueError(
                f"on_bad_input must be one of {ON_BAD_INPUT_MODES}, got "
                f'{mode!r}')
        self.mode = mode
        self.source = source
        self.max_examples = max_examples
        self.counts: Counter = Counter()
        self.examples: List[str] = []

    def report(self,
               kind: str,
               path: str,
               line: Optional[int] = None,
               detail: str = '') -> None:
        """Raise or record one problem.

        Args:
            kind (str): problem category (used as the count key).
            path (str): file the problem is in.
            line (int, optional): 1-based line, ``None`` for the whole file.
            detail (str): what was found / expected.

        Raises:
            BadInputError: when ``mode == 'raise'``.
        """
        err = BadInputError(path, line, kind, detail)
        if self.mode == 'raise':
            raise err
        self.counts[kind] += 1
        if len(self.examples) < self.max_examples:
            self.examples.append(str(err).split('. Fix the file')[0])

    @property
    def total(self) -> int:
        """Number of skipped entries."""
        return sum(self.counts.values())

    def summary(self) -> str:
        """One-paragraph description of what was skipped ('' if nothing)."""
        if not self.total:
            return ''
        parts = ', '.join(f'{k}: {v}' for k, v in sorted(self.counts.items()))
        head = f'{self.source}: ' if self.source else ''
        lines = [f'{head}skipped {self.total} bad input entries ({parts})']
        lines += [f'  e.g. {e}' for e in self.examples]
        return '\n'.join(lines)

    def log(self) -> None:
        """Emit :meth:`summary` as a warning through mmengine's logger."""
        text = self.summary()
        if text:
            import logging

            from mmengine.logging import print_log
            print_log(text, logger='current', level=logging.WARNING)
