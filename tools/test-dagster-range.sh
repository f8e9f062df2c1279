#!/usr/bin/env bash
# The lower end of pyproject.toml's dependency ranges, tested: a second virtualenv made with
# `uv pip install --resolution lowest-direct` (every direct dependency at its lower bound: dagster
# and its integration libraries, kubernetes, pydantic, click, rich, tenacity, hvac, dbt-core…)
# runs the unit tests and the run launcher's integration tests (real kube-apiserver + etcd and
# PostgreSQL). The upper end is the project's own venv (.venv, constraints.txt), which the rest of
# the test command runs.
#
#   bash tools/test-dagster-range.sh [PYTEST ARGS…]   (default: the subset below)
#
# The venv is cached outside the repository under the test servers' cache, keyed by the hash of
# pyproject.toml: a warm run only checks it; a cold one takes ~15 s with uv's download cache warm.
set -euo pipefail
cd "$(dirname "$0")/.."
uv=.venv/bin/uv
cache=${FLOE_TEST_CACHE:-$HOME/.cache/floe-test-servers}
key=$(sha256sum pyproject.toml | cut -c1-16)
venv="$cache/venv-lowest-$key"
started=$SECONDS
say() { printf '[dagster-range] %s\n' "$*" >&2; }

mkdir -p "$cache"
exec 8>"$cache/.venv-lowest.lock"
flock 8
if [[ ! -f $venv/.complete ]]; then
  rm -rf "$venv" "$venv.tmp"
  "$uv" venv --quiet --python .venv/bin/python "$venv.tmp"
  # The package's own ranges at their lowest; then the test tools at their newest (the tests, not
  # the package, decide what those need).
  "$uv" pip install --quiet --python "$venv.tmp/bin/python" --resolution lowest-direct \
    '.[vault,postgres,demo,dbt-postgres]'
  "$uv" pip install --quiet --python "$venv.tmp/bin/python" '.[test]'
  mv "$venv.tmp" "$venv"
  touch "$venv/.complete"
  # Older keys' venvs go.
  find "$cache" -maxdepth 1 -name 'venv-lowest-*' ! -name "venv-lowest-$key" -exec rm -rf {} +
  say "venv $venv made in $((SECONDS - started)) s"
fi
# This checkout's package, not editable (the venv is shared by every checkout with this
# pyproject.toml): its metadata and entry points (the backend registry, `floe`); pytest imports
# the code from the tree, which comes first on sys.path.
"$uv" pip install --quiet --python "$venv/bin/python" --no-deps --reinstall .
flock -u 8
versions=$("$uv" pip list --python "$venv/bin/python" 2>/dev/null |
  awk '$1 ~ /^(dagster|dagster-k8s|kubernetes|pydantic|dbt-core|hvac)$/ {printf "%s %s, ", $1, $2}')
say "lowest: ${versions%, }"

if (($# == 0)); then
  set -- tests/unit tests/integration/test_launcher_drop_in.py \
    tests/integration/test_launcher_metadata_cache.py tests/integration/test_fault_matrix_launcher.py
fi
set +e
PATH="$venv/bin:$PATH" "$venv/bin/python" -m pytest -p no:cacheprovider -q "$@"
status=$?
set -e
say "finished in $((SECONDS - started)) s with pytest exit $status"
exit $status
