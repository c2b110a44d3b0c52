#!/usr/bin/env bash
# Idempotent installer for mmkd_dense and its OpenMMLab stack.
#
#   bash tools/install.sh            # runtime (demo, train, test)
#   bash tools/install.sh --test     # + test-only packages (pytest, PyWavelets)
#
# Environment: uses the active virtualenv / conda env, else creates .venv in
# the repository. Torch is installed only when absent and never replaced.
# mmcv 2.1.0 is built from its sdist with ops against the installed torch
# (CUDA ops when torch has CUDA and nvcc is present) and the wheel is cached
# in $MMKD_CACHE (default ~/.cache/mmkd_dense) keyed by torch/python/CUDA.
# Every pip install is constrained (-c) to the versions CI tested,
# requirements/constraints.txt (refresh: bash tools/update_constraints.sh);
# they are skipped, with a note, on a Python older than the file's
# "requires-python" line. torch itself is pinned by MMKD_TORCH_SPEC.
# Knobs: MMKD_TORCH_SPEC (default torch==2.13.0), MMKD_CACHE, MAX_JOBS,
#        TORCH_CUDA_ARCH_LIST (e.g. "9.0" to build only sm_90),
#        MMKD_CONSTRAINTS (constraints file; empty: install unpinned).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
WITH_TEST=0
for arg in "$@"; do
  case "$arg" in
    --test) WITH_TEST=1 ;;
    -h|--help) sed -n 2,19p "$0"; exit 0 ;;
    *) echo "install.sh: unknown argument '$arg' (use --test or --help)" >&2; exit 2 ;;
  esac
done
START=$(date +%s)
say() { printf '[install %3ss] %s\n' "$(( $(date +%s) - START ))" "$*"; }

# ---------------------------------------------------------------- python env
if [[ -n "${VIRTUAL_ENV:-}" ]]; then
  PY="$VIRTUAL_ENV/bin/python"; say "using active virtualenv $VIRTUAL_ENV"
elif [[ -n "${CONDA_PREFIX:-}" ]]; then
  PY="$CONDA_PREFIX/bin/python"; say "using active conda env $CONDA_PREFIX"
else
  if [[ ! -x .venv/bin/python ]]; then
    say "creating .venv"
    python3 -m venv .venv
  fi
  PY="$REPO/.venv/bin/python"; say "using $REPO/.venv"
fi
PIP=("$PY" -m pip --disable-pip-version-check)
CACHE="${MMKD_CACHE:-$HOME/.cache/mmkd_dense}"
mkdir -p "$CACHE"
CONSTRAINTS="$CACHE/constraints.txt"

# ---------------------------------------------------------------- pins
# PINS: "-c <file>" for every pip call (empty array: unpinned).
PIN_FILE="${MMKD_CONSTRAINTS-$REPO/requirements/constraints.txt}"
PINS=()
if [[ -n "$PIN_FILE" ]]; then
  [[ -f "$PIN_FILE" ]] || { echo "install.sh: MMKD_CONSTRAINTS=$PIN_FILE does not exist" >&2; exit 2; }
  FLOOR=$(sed -n 's/^# requires-python: >=\([0-9.]*\).*/\1/p' "$PIN_FILE" | head -n1)
  if [[ -z "$FLOOR" ]] || "$PY" -c "import sys; sys.exit(sys.version_info[:2] < tuple(map(int, '$FLOOR'.split('.'))))"; then
    PINS=(-c "$PIN_FILE"); say "pinning dependencies to $PIN_FILE"
  else
    say "NOTE: $("$PY" -V) is older than $FLOOR, which the tested versions in $PIN_FILE need: installing unpinned"
  fi
fi

have() { "$PY" - "$@" <<'PYEOF' >/dev/null 2>&1
import importlib, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
PYEOF
}

# ---------------------------------------------------------------- fast path
if [[ $WITH_TEST == 1 ]] && ! have pytest pywt cityscapesscripts onnx onnxruntime; then NEED_TEST=1; else NEED_TEST=0; fi
if [[ $NEED_TEST == 0 ]] && "$PY" -m mmkd_dense.utils.check_install --quiet >/dev/null 2>&1; then
  say "environment already complete"
  "$PY" -m mmkd_dense.utils.check_install
  exit 0
fi

# ---------------------------------------------------------------- torch
if ! have torch; then
  SPEC="${MMKD_TORCH_SPEC:-torch==2.13.0}"
  if command -v nvidia-smi >/dev/null 2>&1; then
    say "installing $SPEC (GPU machine)"
    "${PIP[@]}" install "$SPEC" ${PINS[@]+"${PINS[@]}"}
  else
    # A CPU machine must get a CPU build: prefer a local (find-links) wheel,
    # then the PyTorch CPU index; never the default (CUDA) PyPI build.
    say "installing $SPEC (CPU build)"
    if ! "${PIP[@]}" install -q --no-deps --no-index "$SPEC" 2>/dev/null; then
      "${PIP[@]}" install --no-deps "$SPEC" --index-url https://download.pytorch.org/whl/cpu
    fi
    # torch itself is now satisfied: this only resolves its dependencies
    # (from the default index, where the pinned versions live)
    "${PIP[@]}" install -q "$SPEC" ${PINS[@]+"${PINS[@]}"}
  fi
fi
TORCH_VER=$("$PY" -c 'import torch; print(torch.__version__.split("+")[0])')
TORCH_TAG=$("$PY" -c 'import torch; print(torch.__version__.replace("+", "_"))')
TORCH_CUDA=$("$PY" -c 'import torch; print(torch.version.cuda or "cpu")')
PYTAG=$("$PY" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
say "torch $TORCH_VER ($TORCH_CUDA) kept as installed"
# Hold torch and setuptools (<82 keeps pkg_resources for mmcv and mmengine).
printf 'torch==%s\nsetuptools>=77.0.3,<82\n' "$TORCH_VER" > "$CONSTRAINTS"
C=(-c "$CONSTRAINTS" ${PINS[@]+"${PINS[@]}"})

# ---------------------------------------------------------------- plain deps
say "installing build tools and runtime dependencies"
"${PIP[@]}" install -q "${C[@]}" "setuptools>=77.0.3,<82" wheel ninja
"${PIP[@]}" install -q "${C[@]}" -r requirements/runtime.txt
if [[ $WITH_TEST == 1 ]]; then
  say "installing test dependencies"
  "${PIP[@]}" install -q "${C[@]}" -r requirements/tests.txt
  "${PIP[@]}" install -q --no-deps "${C[@]}" -r requirements/optional.txt
fi

# ---------------------------------------------------------------- mmcv 2.1.0
mmcv_ok() { "$PY" -c 'import mmcv; assert mmcv.__version__ == "2.1.0"; from mmcv.ops import nms, RoIAlign' >/dev/null 2>&1; }
if mmcv_ok; then
  say "mmcv 2.1.0 with ops already installed"
else
  FORCE_CUDA=0
  if [[ "$TORCH_CUDA" != cpu ]] && command -v nvcc >/dev/null 2>&1; then FORCE_CUDA=1; fi
  WHEEL_DIR="$CACHE/wheels/mmcv-2.1.0-torch${TORCH_TAG}-${PYTAG}-cuda${FORCE_CUDA}"
  WHEEL=$(ls "$WHEEL_DIR"/mmcv-2.1.0-*.whl 2>/dev/null | head -n1 || true)
  if [[ -z "$WHEEL" ]]; then
    SDIST="$CACHE/sdist/mmcv-2.1.0.tar.gz"
    if [[ ! -f "$SDIST" ]]; then
      say "downloading the mmcv 2.1.0 sdist"
      "${PIP[@]}" download -q --no-deps --no-binary :all: -d "$CACHE/sdist" mmcv==2.1.0
    fi
    say "building mmcv 2.1.0 with ops (CUDA=$FORCE_CUDA); ~13 min on 2 CPU cores, log: $CACHE/mmcv-build.log"
    mkdir -p "$WHEEL_DIR.tmp"
    if ! MMCV_WITH_OPS=1 FORCE_CUDA=$FORCE_CUDA MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
        "${PIP[@]}" wheel --no-build-isolation --no-deps -w "$WHEEL_DIR.tmp" "$SDIST" \
        > "$CACHE/mmcv-build.log" 2>&1; then
      tail -n 30 "$CACHE/mmcv-build.log" >&2
      echo "install.sh: building mmcv failed; full log in $CACHE/mmcv-build.log" >&2
      exit 1
    fi
    rm -rf "$WHEEL_DIR"; mv "$WHEEL_DIR.tmp" "$WHEEL_DIR"
    WHEEL=$(ls "$WHEEL_DIR"/mmcv-2.1.0-*.whl | head -n1)
  else
    say "reusing cached mmcv wheel $WHEEL"
  fi
  "${PIP[@]}" install -q --no-deps --force-reinstall "$WHEEL"
fi

# ---------------------------------------------------------------- OpenMMLab
# --no-deps: their metadata would otherwise let pip swap torch or mmcv.
say "installing mmengine 0.10.7, mmdet 3.3.0, mmrazor 1.0.0 and mmkd_dense"
"${PIP[@]}" install -q --no-deps "${C[@]}" mmengine==0.10.7 mmdet==3.3.0 mmrazor==1.0.0
"${PIP[@]}" install -q --no-deps --no-build-isolation "${C[@]}" -e "$REPO"

# ---------------------------------------------------------------- check
say "checking the installation"
"$PY" -m mmkd_dense.utils.check_install
say "done"
