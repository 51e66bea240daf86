#!/usr/bin/env bash
# Create (or reuse) .venv with a Python >= 3.12 and install dolfinx_multiscale editable
# with its test extra. Idempotent: a second run only checks a stamp file.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv
STAMP=$VENV/.installed
if [[ -f $STAMP && $STAMP -nt pyproject.toml ]]; then
    exit 0
fi

find_python() {
    local tried=() cand
    for cand in python3.13 python3.12 python3; do
        tried+=("$cand")
        if command -v "$cand" >/dev/null 2>&1 &&
            "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then
            command -v "$cand"; return 0
        fi
    done
    local root
    root=$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")
    for cand in "$root"/versions/3.13*/bin/python "$root"/versions/3.12*/bin/python; do
        tried+=("$cand")
        if [[ -x $cand ]] && "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
            echo "$cand"; return 0
        fi
    done
    echo "error: no Python >= 3.12 found; tried: ${tried[*]}" >&2
    return 1
}

if [[ ! -x $VENV/bin/python ]]; then
    PY=$(find_python)
    echo "bootstrap: creating $VENV with $PY ($("$PY" --version))"
    "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet -e ".[test]"
touch "$STAMP"
echo "bootstrap: $VENV ready"
