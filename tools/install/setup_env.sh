#!/usr/bin/env bash
# Creates (or updates) the project's virtual environment with everything mmmoco needs:
# torch/torchvision, mmengine, mmcv 2.1.0 built from source with its ops, mmdet, mmseg,
# the test and optional tools, the experiment trackers, and mmmoco itself in editable mode.
# Every install is constrained to the exact versions of requirements/constraints.txt (the
# requirements/*.txt files hold ranges). Idempotent: a second run only checks what is there.
# Usage: tools/install/setup_env.sh [--core] [VENV_DIR] (default .venv)
#   --core: only what pretraining and kNN/linear evaluation need (torch, mmengine, the optional
#           tools, mmmoco): no mmcv build, no mmdet/mmseg, no test tools, no trackers. Used by
#           tools/demo.sh.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
core=0
if [ "${1:-}" = --core ]; then
  core=1
  shift
fi
venv=${1:-${MMMOCO_VENV:-$root/.venv}}
py=${PYTHON:-python3}

log() { printf '[setup_env] %s\n' "$*"; }

if [ ! -x "$venv/bin/python" ]; then
  log "creating virtualenv $venv"
  "$py" -m venv "$venv"
fi
constraints="$root/requirements/constraints.txt"
pip=("$venv/bin/python" -m pip install --disable-pip-version-check -q -c "$constraints")
vpy="$venv/bin/python"
# The NAME==VERSION lines of the constraints file for the given package names.
pins() { for name in "$@"; do grep -im1 "^$name==" "$constraints"; done; }

have() { "$vpy" - "$@" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
for spec in sys.argv[1:]:
    name, want = spec.split('==')
    if version(name) != want:
        sys.exit(1)
PY
}

# wheel: to cache the mmcv build; ninja: parallel compilation of its ops.
"${pip[@]}" wheel ninja
if ! have $(pins torch torchvision mmengine timm); then
  log "installing runtime requirements (torch, mmengine, ...)"
  "${pip[@]}" -r "$root/requirements/runtime.txt"
fi

# mmcv 2.1.0 with its ops (built from source), mmdet and mmseg: the transfer benchmarks' stack.
install_mm_stack() {
  if ! have $(pins mmcv) || ! "$vpy" -c 'import mmcv.ops' 2>/dev/null; then
    log "building mmcv 2.1.0 with ops from its source release (about 10 minutes on 2 cores the first time; pip caches the wheel)"
    if command -v nvcc >/dev/null 2>&1 && "$vpy" -c 'import torch,sys; sys.exit(0 if torch.cuda.is_available() else 1)'; then
      export FORCE_CUDA=1
      log "nvcc and a GPU found: building the CUDA ops too"
    else
      export FORCE_CUDA=0
    fi
    export MMCV_WITH_OPS=1
    export MAX_JOBS=${MAX_JOBS:-$(nproc)}
    export MMMOCO_REAL_CXX=${MMMOCO_REAL_CXX:-g++}
    export CXX="$root/tools/install/cxx20_wrapper.sh"
    export CC="$root/tools/install/cxx20_wrapper.sh"
    # setuptools < 70: mmcv 2.1.0's setup.py imports pkg_resources (torch may have pulled a newer one).
    "${pip[@]}" 'setuptools>=65,<70'
    "${pip[@]}" --no-build-isolation mmcv
  fi
  if ! have $(pins mmdet mmsegmentation); then
    log "installing mmdet, mmsegmentation"
    "${pip[@]}" -r "$root/requirements/mminstall.txt"
  fi
}

extras=(-r "$root/requirements/optional.txt")
modules=(torch mmengine mmmoco)
if [ "$core" = 1 ]; then
  extras+=('setuptools>=65')  # for the editable install below (no build isolation)
else
  install_mm_stack
  extras+=(-r "$root/requirements/tests.txt" -r "$root/requirements/trackers.txt")
  modules+=(mmcv mmcv.ops mmdet mmseg)
fi
"${pip[@]}" "${extras[@]}"
"${pip[@]}" --no-build-isolation --no-deps -e "$root"
"$vpy" - "${modules[@]}" <<'PY'
import importlib
import sys

loaded = [importlib.import_module(name) for name in sys.argv[1:]]
print('[setup_env] ready:', ', '.join(
    f'{module.__name__} {getattr(module, "__version__", "")}'.strip() for module in loaded))
PY
