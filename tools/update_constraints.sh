#!/usr/bin/env bash
# Regenerate requirements/constraints.txt, the versions tools/install.sh pins
# every pip install to (the versions CI tested).
#
#   bash tools/update_constraints.sh             # fresh install, then freeze
#   bash tools/update_constraints.sh --env PY    # freeze the env of python PY
#
# Default: a new virtualenv in a temporary folder (with $PYTHON, default
# python3) gets `tools/install.sh --test` *unpinned* (MMKD_CONSTRAINTS=''),
# i.e. the newest versions that resolve today from requirements/*.txt; its
# `pip freeze` (minus torch, which install.sh pins itself, pip, setuptools and
# mmkd_dense) becomes the new file. The cached mmcv wheel ($MMKD_CACHE) is
# reused, so this takes a few minutes. Then run the tests (`make test`) and
# commit the file. `--env` freezes an existing environment instead (e.g.
# .venv/bin/python after adding a package to requirements/).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$REPO/requirements/constraints.txt"
case "${1:-}" in
  --env)
    [[ $# -eq 2 ]] || { echo "usage: $0 [--env PYTHON]" >&2; exit 2; }
    PY="$2" ;;
  "")
    TMP="$(mktemp -d)"
    trap 'rm -rf "$TMP"' EXIT
    "${PYTHON:-python3}" -m venv "$TMP/venv"
    echo "[update_constraints] fresh unpinned install in $TMP/venv"
    (unset CONDA_PREFIX; VIRTUAL_ENV="$TMP/venv" MMKD_CONSTRAINTS='' \
      bash "$REPO/tools/install.sh" --test)
    PY="$TMP/venv/bin/python" ;;
  -h|--help) sed -n 2,16p "$0"; exit 0 ;;
  *) echo "usage: $0 [--env PYTHON]" >&2; exit 2 ;;
esac

"$PY" - "$OUT" <<'PYEOF'
"""Write the pinned versions of every installed distribution."""
import datetime
import platform
import re
import sys
from importlib import metadata

from packaging.specifiers import SpecifierSet

SKIP = {'torch', 'mmkd-dense', 'pip', 'setuptools'}
pins, floors = {}, []
for dist in metadata.distributions():
    name = re.sub(r'[-_.]+', '-', dist.metadata['Name']).lower()
    if name in SKIP or name.startswith('nvidia-') or name == 'triton':
        continue  # torch and its CUDA stack follow MMKD_TORCH_SPEC
    pins[name] = dist.version
    if dist.metadata['Requires-Python']:
        floors.append(SpecifierSet(dist.metadata['Requires-Python']))
# oldest Python 3.x every pinned version installs on
floor = next(f'3.{m}' for m in range(6, 30)
             if all(spec.contains(f'3.{m}') for spec in floors))
import torch  # noqa: E402  (only to record what was tested)
lines = [
    '# Versions CI tested: tools/install.sh passes this file to every pip',
    '# install (-c). Regenerate: bash tools/update_constraints.sh (README,',
    '# "Reproducible install"). torch is not pinned here (MMKD_TORCH_SPEC).',
    f'# Generated {datetime.date.today().isoformat()} with CPython '
    f'{platform.python_version()}, torch {torch.__version__}.',
    '# install.sh skips the pins on an older Python than:',
    f'# requires-python: >={floor}',
]
lines += [f'{name}=={version}' for name, version in sorted(pins.items())]
with open(sys.argv[1], 'w') as f:
    f.write('\n'.join(lines) + '\n')
print(f'[update_constraints] wrote {len(pins)} pins to {sys.argv[1]} '
      f'(requires-python >={floor})')
PYEOF
