# Copyright (c) mmkd_dense contributors. All rights reserved.
"""Imports inside ``mmkd_dense`` flow one way: utils -> losses -> distillers
-> algorithms (and the detectors never reach up to the algorithms).

Every module of the package is parsed with ``ast`` (no import runs), every
``import`` / ``from ... import`` in it is resolved to a package path,
including relative and function-level (lazy) imports, and the edges
between the layers are checked.
"""
import ast
import os.path as osp
import unittest
from pathlib import Path
from typing import Dict, List, Set, Tuple

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / 'mmkd_dense'

#: (importing layer, layers it must not import, why)
FORBIDDEN = [
    ('mmkd_dense.structures',
     ('mmkd_dense.models', ),
     'the batch context is data only'),
    ('mmkd_dense.models.utils',
     ('mmkd_dense.models.losses', 'mmkd_dense.models.connectors',
      'mmkd_dense.models.distillers', 'mmkd_dense.models.algorithms',
      'mmkd_dense.models.detectors', 'mmkd_dense.models.heads'),
     'utils are the bottom layer of the models'),
    ('mmkd_dense.models.losses',
     ('mmkd_dense.models.distillers', 'mmkd_dense.models.algorithms',
      'mmkd_dense.models.detectors'),
     'a loss gets network parts wired by the distiller, not by importing '
     'them'),
    ('mmkd_dense.models.detectors',
     ('mmkd_dense.models.algorithms', 'mmkd_dense.models.distillers',
      'mmkd_dense.models.losses'),
     'detectors are built by the algorithm, not the other way round'),
    ('mmkd_dense.models.distillers',
     ('mmkd_dense.models.algorithms', ),
     'the algorithm owns the distiller'),
    ('mmkd_dense.utils',
     ('mmkd_dense.models.algorithms', ),
     'package-wide helpers sit below the models'),
]

#: Modules allowed to break a rule above, with the reason.
EXCEPTIONS = {
    # the training-start dry run builds the whole distillation model
    'mmkd_dense.utils.preflight': 'builds the full model (tools/train.py)',
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix('').parts)
    if parts[-1] == '__init__':
        parts = parts[:-1]
    return '.'.join(parts)


def imported_modules(path: Path) -> List[Tuple[int, str]]:
    """``(line, dotted module)`` of every import in ``path`` (relative
    imports resolved; ``from pkg import name`` gives ``pkg.name``, which
    names a submodule or a symbol of ``pkg``, both under ``pkg``)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    name = module_name(path)
    package = name if path.name == '__init__.py' else name.rsplit('.', 1)[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split('.')
                base = base[:len(base) - (node.level - 1)]
                stem = '.'.join(base + ([node.module] if node.module else []))
            else:
                stem = node.module
            found += [(node.lineno, f'{stem}.{alias.name}')
                      for alias in node.names]
    return found


def import_graph() -> Dict[str, List[Tuple[int, str]]]:
    return {
        module_name(path): [(line, target)
                            for line, target in imported_modules(path)
                            if target.startswith('mmkd_dense')]
        for path in sorted(PACKAGE.rglob('*.py'))
    }


def _under(module: str, layer: str) -> bool:
    return module == layer or module.startswith(layer + '.')


class TestImportDirection(unittest.TestCase):

    def test_graph_sees_known_edges(self):
        """The parser is not vacuous: edges that must exist are found."""
        graph = import_graph()
        self.assertGreater(len(graph), 50)
        algorithm = graph['mmkd_dense.models.algorithms.gt_aware_distill']
        self.assertTrue(any(_under(t, 'mmkd_dense.models.distillers')
                            for _, t in algorithm))
        loss = graph['mmkd_dense.models.losses.ds2d2_dense_implicit_loss']
        self.assertIn('mmkd_dense.models.utils.amplifier_head.'
                      'load_amplifier_head', [t for _, t in loss])

    def test_layers_import_downwards_only(self):
        graph = import_graph()
        violations: List[str] = []
        for source, forbidden, why in FORBIDDEN:
            for module, edges in graph.items():
                if not _under(module, source) or module in EXCEPTIONS:
                    continue
                for line, target in edges:
                    bad = [f for f in forbidden if _under(target, f)]
                    if bad:
                        rel = osp.join(*module.split('.'))
                        violations.append(
                            f'{rel}.py:{line} imports {target} ({source} '
                            f'must not import {bad[0]}: {why})')
        self.assertFalse(violations, '\n' + '\n'.join(violations))

    def test_exceptions_are_still_needed(self):
        """An allowed exception that no longer breaks a rule is removed."""
        graph = import_graph()
        for module in EXCEPTIONS:
            targets: Set[str] = {t for _, t in graph.get(module, [])}
            needed = any(
                _under(module, source) and any(
                    _under(t, f) for t in targets for f in forbidden)
                for source, forbidden, _ in FORBIDDEN)
            self.assertTrue(needed, f'{module} in EXCEPTIONS imports '
                            'nothing forbidden any more: remove it.')


if __name__ == '__main__':
    unittest.main()
