#!/usr/bin/env bash
# Create the project's virtualenv (.venv) and install the package with its dev extras (which pull in
# the vault, postgres, demo and dbt-postgres extras: everything the test suite and the demo use), at
# the versions in constraints.txt. Idempotent: a venv whose install stamp matches pyproject.toml and
# constraints.txt is left as it is.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
stamp=.venv/.floe-install-stamp
want=$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)
if [[ -x .venv/bin/python && -f $stamp && "$(cat "$stamp")" == "$want" ]]; then
  exit 0
fi
started=$SECONDS
log=$(mktemp)
# pip's and setuptools' chatter goes to a log that is shown only when the install fails.
if ! { "$python" -m venv .venv &&
  .venv/bin/python -m pip install --quiet --upgrade pip setuptools wheel &&
  .venv/bin/python -m pip install --quiet -e '.[dev]' -c constraints.txt; } >"$log" 2>&1; then
  tail -n 40 "$log" >&2
  echo "[setup] installing the virtualenv failed (full log: $log)" >&2
  exit 1
fi
rm -f "$log"
echo "$want" > "$stamp"
echo "[setup] virtualenv ready in $((SECONDS - started)) s" >&2
