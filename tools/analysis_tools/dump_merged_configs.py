# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Write every shipped config, fully merged, as one canonical JSON file.

Each config under ``configs/`` (``_base_`` folders excepted) is loaded with
mmengine's ``Config.fromfile``; every ``dict(cfg_file=..., cfg_options=...)``
reference (teacher, student, amplifier detector) and every
``amplifier_cfg='<path>'`` string is expanded the way the code resolves it
(``resolve_detector_cfg``), so the JSON shows what is actually built.
Keys are sorted; tuples are written as lists; volatile keys (``filename``)
are dropped.  Used to prove that a config refactoring keeps behaviour::

    python tools/analysis_tools/dump_merged_configs.py --out /tmp/before
    # ... restructure configs/ ...
    python tools/analysis_tools/dump_merged_configs.py --out /tmp/after
    python tools/analysis_tools/compare_merged_configs.py /tmp/before \\
        /tmp/after --renames renames.txt

The output file of ``configs/a/b.py`` is ``<out>/a/b.json``; a config that
fails to load is written as ``{"__error__": "<message>"}`` (and counted in
the exit status: 1 if any failed).
"""
import argparse
import copy
import glob
import json
import os
import os.path as osp
import sys
from typing import Any, Callable, List, Optional

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

__all__ = ['list_configs', 'merged_config', 'canonical', 'main']

#: keys that name the file rather than its content
VOLATILE_KEYS = frozenset({'filename'})


def _resolver() -> Callable:
    """``resolve_detector_cfg`` from wherever it lives now."""
    import mmkd_dense  # noqa: F401  (compat shims, registries)
    for module in ('mmkd_dense.utils.config', 'mmkd_dense.utils.configs',
                   'mmkd_dense.utils.detector_cfg',
                   'mmkd_dense.models.utils.detector_cfg',
                   'mmkd_dense.models.algorithms.gt_aware_distill'):
        try:
            mod = __import__(module, fromlist=['resolve_detector_cfg'])
        except ImportError:
            continue
        fn = getattr(mod, 'resolve_detector_cfg', None)
        if fn is not None:
            return fn
    raise ImportError('resolve_detector_cfg not found in mmkd_dense')


def list_configs(root: str = 'configs') -> List[str]:
    """Every ``*.py`` below ``root`` outside ``_base_`` folders, sorted,
    relative to the repository root."""
    paths = glob.glob(osp.join(REPO_ROOT, root, '**', '*.py'),
                      recursive=True)
    rel = [osp.relpath(p, REPO_ROOT) for p in paths]
    return sorted(p for p in rel if '_base_' not in p.split(os.sep))


def _expand(node: Any, resolve: Callable, key: str) -> Any:
    """Copy of ``node`` with ``cfg_file`` references and ``amplifier_cfg``
    paths replaced by the model dicts they name (recursively)."""
    if isinstance(node, dict):
        if 'cfg_file' in node:
            model = resolve(dict(node), key)
            return _expand(_plain(model), resolve, key)
        out = {}
        for k, v in node.items():
            if k == 'amplifier_cfg' and isinstance(v, str):
                model = resolve(dict(cfg_file=v), f'{key}.{k}')
                out[k] = _expand(_plain(model), resolve, f'{key}.{k}')
            else:
                out[k] = _expand(v, resolve, f'{key}.{k}')
        return out
    if isinstance(node, (list, tuple)):
        return [_expand(v, resolve, f'{key}[{i}]') for i, v in enumerate(node)]
    return node


def _plain(node: Any) -> Any:
    """ConfigDict/tuple-free deep copy (dicts, lists, scalars)."""
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, (list, tuple)):
        return [_plain(v) for v in node]
    if isinstance(node, (str, int, float, bool)) or node is None:
        return node
    return repr(node)


def merged_config(path: str, resolve: Optional[Callable] = None) -> dict:
    """The merged, expanded config of ``path`` as plain data."""
    from mmengine.config import Config
    resolve = resolve or _resolver()
    cfg = Config.fromfile(osp.join(REPO_ROOT, path))
    data = _plain(copy.deepcopy(cfg.to_dict()))
    for k in VOLATILE_KEYS:
        data.pop(k, None)
    return _expand(data, resolve, 'cfg')


def canonical(data: Any) -> str:
    """Sorted-key, indented JSON text."""
    return json.dumps(data, sort_keys=True, indent=1, default=repr) + '\n'


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('configs', nargs='*',
                        help='configs to dump (default: all under configs/)')
    args = parser.parse_args(argv)
    os.chdir(REPO_ROOT)
    resolve = _resolver()
    failed = 0
    paths = args.configs or list_configs()
    for path in paths:
        rel = osp.relpath(osp.abspath(path), osp.join(REPO_ROOT, 'configs'))
        dst = osp.join(args.out, osp.splitext(rel)[0] + '.json')
        os.makedirs(osp.dirname(dst), exist_ok=True)
        try:
            data = merged_config(path, resolve)
        except Exception as exc:  # noqa: BLE001  (reported, counted)
            failed += 1
            data = {'__error__': f'{type(exc).__name__}: {exc}'}
            print(f'FAILED {path}: {data["__error__"]}', file=sys.stderr)
        with open(dst, 'w') as f:
            f.write(canonical(data))
    print(f'{len(paths) - failed}/{len(paths)} configs written to {args.out}')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
