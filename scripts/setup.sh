#!/usr/bin/env bash
# One command, idempotent set-up on a fresh Debian 12 (bookworm) machine, as root:
#   1. apt packages: Debian's ParaView 5.11 (+ its Python), h5py built for ParaView's numpy,
#      python3-venv, Xvfb/xauth/x11 tools for the GUI tests, ImageMagick, OpenFOAM v1912;
#   2. .venv on /usr/bin/python3.11 (the interpreter Debian's ParaView embeds, so the venv's
#      compiled wheels load inside pvpython/pvbatch/paraview through `echopv`);
#   3. torch (pinned CPU build for this machine), then the package editable with its dev extras.
# A second run only checks and exits in a few seconds.
#
# torch choice (environment variables):
#   ECHOPV_TORCH_SPEC       pip requirement for torch (default: torch==2.13.0)
#   ECHOPV_TORCH_INDEX_URL  extra index to take torch from (unset: only the indexes in pip's own
#                           configuration; this machine's pip.conf serves the CPU wheel from disk).
#                           Elsewhere a plain PyPI `torch` on Linux is the multi-GB CUDA build: pick
#                           CPU or a CUDA version with PyTorch's own wheel index, e.g.
#                             ECHOPV_TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128 \
#                             ECHOPV_TORCH_SPEC='torch==2.13.0' bash scripts/setup.sh
#                           (.../whl/cpu for the CPU-only build).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO="$PWD"
VENV="$REPO/.venv"
PY311=/usr/bin/python3.11
TORCH_SPEC="${ECHOPV_TORCH_SPEC:-torch==2.13.0}"
LOG="$(mktemp -t echopv-setup.XXXXXX.log)"
APT_PACKAGES=(paraview python3-paraview python3-h5py python3-venv xvfb xauth x11-apps x11-utils
              imagemagick openfoam)

step() { printf '==> %s\n' "$*"; }
fail() {
    printf 'setup.sh: %s\n' "$*" >&2
    if [[ -s "$LOG" ]]; then printf -- '--- last lines of %s ---\n' "$LOG" >&2; tail -n 30 "$LOG" >&2; fi
    exit 1
}
quiet() { "$@" >>"$LOG" 2>&1 || fail "failed: $*"; }
trap 'fail "interrupted or failed at line $LINENO"' ERR

# --- 1. apt ---------------------------------------------------------------------------------
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    [[ "$(id -u)" == 0 ]] || fail "apt packages missing (${missing[*]}); run this script as root"
    step "apt: installing ${missing[*]} (several minutes on a fresh machine)"
    export DEBIAN_FRONTEND=noninteractive
    quiet apt-get update -q
    quiet apt-get install -y -q "${missing[@]}"
else
    step "apt: all ${#APT_PACKAGES[@]} packages present"
fi
[[ -x "$PY311" ]] || fail "$PY311 not found: this set-up targets Debian 12 (ParaView 5.11 embeds Python 3.11)"

# --- 2. venv ---------------------------------------------------------------------------------
if [[ -x "$VENV/bin/python" ]] && "$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
    step "venv: $VENV (Python 3.11) present"
else
    step "venv: creating $VENV with $PY311"
    rm -rf "$VENV"
    quiet "$PY311" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)

# --- 3. torch ----------------------------------------------------------------------------------
torch_ok() {
    "$VENV/bin/python" - "$TORCH_SPEC" <<'EOF' >/dev/null 2>&1
import sys
from importlib.metadata import version
spec = sys.argv[1].replace(" ", "")
have = version("torch")
if "==" in spec:
    want = spec.split("==", 1)[1]
    sys.exit(0 if have.split("+")[0] == want.split("+")[0] else 1)
sys.exit(0)
EOF
}
if torch_ok; then
    step "torch: $("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("torch"))') present"
else
    extra=()
    idx="${ECHOPV_TORCH_INDEX_URL:-}"
    if [[ -n "$idx" ]]; then extra=(--extra-index-url "$idx"); fi
    step "torch: installing $TORCH_SPEC ${extra[*]:-(from the indexes in pip.conf)}"
    quiet "${PIP[@]}" install "$TORCH_SPEC" "${extra[@]}"
fi

# --- 4. the package (editable, dev extras) ----------------------------------------------------
stamp="$VENV/.echopv-setup-stamp"
want_stamp="$(sha256sum "$REPO/pyproject.toml" | cut -d' ' -f1) $TORCH_SPEC"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want_stamp" && -x "$VENV/bin/echopv" ]] \
    && "$VENV/bin/python" -c 'import echo_paraview, echo_model' >/dev/null 2>&1; then
    step "package: echo-paraview (editable, dev extras) up to date"
else
    step "package: pip install -e '.[dev]'"
    # keep the torch chosen above (a dependency resolve must not swap it for another build)
    quiet "${PIP[@]}" install -e "$REPO[dev]" "torch==$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("torch"))')"
    echo "$want_stamp" >"$stamp"
fi

# --- 5. sanity ----------------------------------------------------------------------------------
"$VENV/bin/python" -c 'import torch, vtkmodules, echo_paraview' >>"$LOG" 2>&1 \
    || fail "the venv cannot import torch/vtk/echo_paraview"
command -v pvpython >/dev/null || fail "pvpython missing after apt (package python3-paraview)"
rm -f "$LOG"
trap - ERR
step "ready: .venv/bin/echopv paraview | pvpython | pvbatch ; .venv/bin/python -m pytest -q"
