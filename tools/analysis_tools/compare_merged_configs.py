# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Compare two folders written by ``dump_merged_configs.py``.

Proves that a config refactoring keeps behaviour: every config of the
*before* folder must have a config in the *after* folder (same relative
path, or the new name given by ``--renames``) whose merged, expanded
config is equal.  Renamed files are matched and, inside the *before* data,
every old path / stem in a string is replaced by the new one first (so a
``work_dirs/<old stem>/...`` checkpoint path or a ``configs/<old>.py``
reference counts as equal when it follows the rename).

Top-level keys that the runner reads (``model``, dataloaders, evaluators,
loops, schedules, hooks, ...) are compared strictly.  Other top-level keys
are helper variables of the config files (``teacher_ckpt``, ``lsfi_loss``,
``distill``, ...): their differences are listed separately and do not fail
the comparison unless ``--strict`` is given.  ``--allow CONFIG:KEY``
(fnmatch patterns on the relative path and the dotted key) marks an
intended difference: it is listed as such and does not fail.

Usage::

    python tools/analysis_tools/compare_merged_configs.py BEFORE AFTER \\
        [--renames FILE] [--allow 'ds2d2/*:model.distiller.*'] [--strict]

``--renames FILE``: one ``old new`` pair per line (config paths relative
to ``configs/`` or the repository root, with or without ``.py``; ``#``
comments).  Exit status: 0 equal (up to allowed/helper differences),
1 differences, 2 bad usage.
"""
import argparse
import fnmatch
import json
import os
import os.path as osp
import sys
from typing import Any, Dict, Iterator, List, Optional, Tuple

__all__ = ['RUNNER_KEYS', 'load_renames', 'diff', 'compare', 'main']

#: top-level keys consumed by mmengine's Runner / mmdet / mmkd_dense tools
RUNNER_KEYS = frozenset({
    'model', 'work_dir', 'train_dataloader', 'val_dataloader',
    'test_dataloader', 'train_cfg', 'val_cfg', 'test_cfg', 'auto_scale_lr',
    'optim_wrapper', 'param_scheduler', 'val_evaluator', 'test_evaluator',
    'default_hooks', 'custom_hooks', 'data_preprocessor', 'load_from',
    'resume', 'launcher', 'env_cfg', 'log_processor', 'log_level',
    'visualizer', 'default_scope', 'randomness', 'experiment_name',
    'find_unused_parameters', 'custom_imports', 'dataset_override'
})


def _norm(name: str) -> str:
    """``configs/a/b.py`` / ``a/b.py`` / ``a/b`` -> ``a/b``."""
    name = name.strip()
    if name.startswith('configs/'):
        name = name[len('configs/'):]
    return name[:-3] if name.endswith('.py') else name


def load_renames(path: Optional[str]) -> Dict[str, str]:
    """``{old: new}`` relative config names (no ``.py``)."""
    renames: Dict[str, str] = {}
    if not path:
        return renames
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            line = line.split('#', 1)[0].strip()
            if not line:
                continue
            parts = line.split()
            if len(parts) != 2:
                raise ValueError(f'{path}:{lineno}: expected "old new", '
                                 f'found {line!r}')
            renames[_norm(parts[0])] = _norm(parts[1])
    return renames


def _rename_strings(node: Any, pairs: List[Tuple[str, str]]) -> Any:
    """Copy of ``node`` with each old path/stem in strings replaced."""
    if isinstance(node, dict):
        return {k: _rename_strings(v, pairs) for k, v in node.items()}
    if isinstance(node, list):
        return [_rename_strings(v, pairs) for v in node]
    if isinstance(node, str):
        for old, new in pairs:
            node = node.replace(old, new)
        return node
    return node


def diff(a: Any, b: Any, key: str = '') -> Iterator[Tuple[str, Any, Any]]:
    """Yield ``(dotted key, before, after)`` for every leaf difference."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            sub = f'{key}.{k}' if key else k
            if k not in a:
                yield sub, '<absent>', b[k]
            elif k not in b:
                yield sub, a[k], '<absent>'
            else:
                yield from diff(a[k], b[k], sub)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            yield from diff(x, y, f'{key}[{i}]')
    elif a != b:
        yield key, a, b


def _rel_jsons(root: str) -> List[str]:
    out = []
    for d, _, files in os.walk(root):
        for f in files:
            if f.endswith('.json'):
                out.append(osp.relpath(osp.join(d, f), root)[:-5])
    return sorted(out)


def compare(before: str, after: str, renames: Dict[str, str],
            allow: List[str], strict: bool = False) -> Tuple[int, List[str]]:
    """Compare the dumps; returns ``(number of failing diffs, report)``."""
    # longest names first so that 'a/b_x' is not hit by 'a/b'
    pairs = []
    for old, new in sorted(renames.items(), key=lambda kv: -len(kv[0])):
        pairs.append((old, new))
        pairs.append((osp.basename(old), osp.basename(new)))
    allow_pairs = [a.split(':', 1) if ':' in a else ('*', a) for a in allow]
    lines: List[str] = []
    failing = 0
    after_names = set(_rel_jsons(after))
    seen = set()
    for name in _rel_jsons(before):
        new = renames.get(name, name)
        seen.add(new)
        if new not in after_names:
            lines.append(f'MISSING {name} -> {new}')
            failing += 1
            continue
        with open(osp.join(before, name + '.json')) as f:
            a = _rename_strings(json.load(f), pairs)
        with open(osp.join(after, new + '.json')) as f:
            b = json.load(f)
        title = name if new == name else f'{name} -> {new}'
        for key, x, y in diff(a, b):
            top = key.split('.', 1)[0].split('[', 1)[0]
            if any(fnmatch.fnmatch(new, p) and fnmatch.fnmatch(key, k)
                   for p, k in allow_pairs):
                kind = 'intended'
            elif top in RUNNER_KEYS or top == '__error__' or strict:
                kind = 'DIFF'
                failing += 1
            else:
                kind = 'helper'
            lines.append(f'{kind:8s} {title}: {key}: '
                         f'{json.dumps(x)[:200]} -> {json.dumps(y)[:200]}')
    for name in sorted(after_names - seen):
        lines.append(f'NEW     {name}')
    return failing, lines


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('before')
    parser.add_argument('after')
    parser.add_argument('--renames', help='file of "old new" lines')
    parser.add_argument('--allow', action='append', default=[],
                        help='CONFIG_PATTERN:KEY_PATTERN intended difference')
    parser.add_argument('--strict', action='store_true',
                        help='helper-variable differences fail too')
    args = parser.parse_args(argv)
    for folder in (args.before, args.after):
        if not osp.isdir(folder):
            print(f'error: {folder} is not a folder written by '
                  'dump_merged_configs.py', file=sys.stderr)
            return 2
    failing, lines = compare(args.before, args.after,
                             load_renames(args.renames), args.allow,
                             args.strict)
    print('\n'.join(lines))
    print(f'{failing} failing difference(s)')
    return 1 if failing else 0


if __name__ == '__main__':
    sys.exit(main())
