# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Readable errors for a config ``type`` that names no registered class.

mmengine raises ``KeyError: 'FGDLos is not in the mmrazor::model registry.
Please check whether the value of `FGDLos` is correct ...'`` at the end of a
long traceback, without the config key and without a suggestion. The helpers
here find the key(s) that hold the unknown type and the closest registered
names in every scope (``mmkd_dense.``, ``mmrazor.``, ``mmdet.``, ...).
"""
import difflib
import re
from typing import Any, List, Optional, Tuple

__all__ = [
    'parse_unknown_type', 'suggest_types', 'find_type_keys',
    'unknown_type_message'
]

_NOT_IN_REGISTRY = re.compile(
    r'^\s*`?(?P<type>[\w.]+)`? is not in the (?P<scope>[\w.]+)::'
    r'(?P<registry>[\w ]+?) registry')


def parse_unknown_type(err: BaseException) -> Optional[Tuple[str, str]]:
    """``(type, registry name)`` if ``err`` is mmengine's "not in the
    registry" error, else None."""
    if not isinstance(err, KeyError) or not err.args:
        return None
    match = _NOT_IN_REGISTRY.match(str(err.args[0]))
    if match is None:
        return None
    return match.group('type'), match.group('registry')


def _root_registry(name: str):
    import mmengine.registry as mmreg
    for value in vars(mmreg).values():
        if isinstance(value, mmreg.Registry) and value.parent is None and \
                value.name == name:
            return value
    return None


def suggest_types(type_name: str, registry_name: str,
                  limit: int = 3) -> List[str]:
    """Registered names close to ``type_name``, scope-qualified (e.g.
    ``'mmkd_dense.FGDLoss'``) unless they live in mmengine's root."""
    root = _root_registry(registry_name)
    if root is None:
        return []
    by_name = {}
    for name in root.module_dict:
        by_name.setdefault(name, name)
    for scope, child in sorted(root._children.items()):
        try:
            child.import_from_location()
        except Exception:  # noqa: BLE001 - suggestions are best effort
            pass
        for name in child.module_dict:
            qualified = f'{scope}.{name}'
            # prefer our own scope when a name exists in several
            if name not in by_name or scope == 'mmkd_dense':
                by_name[name] = qualified
    bare = type_name.split('.')[-1]
    close = difflib.get_close_matches(bare, list(by_name), n=limit,
                                      cutoff=0.6)
    if not close:  # e.g. a missing suffix: 'FGD' -> 'FGDLoss'
        close = [n for n in by_name if n.lower().startswith(bare.lower())
                 ][:limit] if len(bare) >= 3 else []
    return [by_name[n] for n in close]


def find_type_keys(cfg: Any, type_name: str, root: str,
                   suffix: str = '') -> List[str]:
    """Config keys (dotted) of the dicts whose ``type`` is ``type_name``
    (or ``type_name`` without ``suffix``, as mmrazor appends ``Recorder``).
    """
    keys: List[str] = []

    def walk(node, key):
        if isinstance(node, dict):
            value = node.get('type')
            if isinstance(value, str) and (
                    value == type_name or
                    (suffix and value + suffix == type_name)):
                keys.append(f'{key}.type')
            for k, v in node.items():
                walk(v, f'{key}.{k}')
        elif isinstance(node, (list, tuple)):
            for i, v in enumerate(node):
                walk(v, f'{key}[{i}]')

    walk(cfg, root)
    return keys


def unknown_type_message(type_name: str, registry_name: str,
                         keys: List[str]) -> str:
    """``<key>="<type>" is not a registered <registry> type. Did you mean
    ...?`` (one line per key)."""
    shown = type_name
    suggestions = suggest_types(type_name, registry_name)
    where = ', '.join(keys) if keys else 'a "type" of the config'
    msg = (f'{where}="{shown}" is not a registered {registry_name} type '
           '(a typo, or a class from a package the config does not '
           'import).')
    if suggestions:
        msg += ' Did you mean ' + ' or '.join(
            f'"{s}"' for s in suggestions) + '?'
    return msg
