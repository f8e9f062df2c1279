#!/usr/bin/env bash
# Create the project's virtualenv (.venv) and install the package with its dev extras.
# Idempotent: a venv whose install stamp matches pyproject.toml is left as it is.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
stamp=.venv/.floe-install-stamp
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [[ -x .venv/bin/python && -f $stamp && "$(cat "$stamp")" == "$want" ]]; then
  exit 0
fi
started=$SECONDS
"$python" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip setuptools wheel
.venv/bin/python -m pip install --quiet -e '.[dev]'
echo "$want" > "$stamp"
echo "[setup] virtualenv ready in $((SECONDS - started)) s" >&2
