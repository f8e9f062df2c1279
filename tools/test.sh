#!/usr/bin/env bash
# README command (2): set up everything on a fresh machine and run the whole test suite —
# lint, types, each benchmark at its smallest size, unit, integration (real kube-apiserver + etcd,
# OpenBao, PostgreSQL, dbt, Dagster, ESO) and end-to-end on a real node (kubelet + containerd,
# the project's own image). Exits non-zero on any failure, including "no tests collected".
set -euo pipefail
cd "$(dirname "$0")/.."

started=$SECONDS
tools/setup.sh
bash .ci/setup-test-servers.sh
echo "[test] setup done in $((SECONDS - started)) s" >&2

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy

# The release check: wheel + sdist, twine check, each installed into a clean venv with the core
# dependencies only, `floe --help`.
bash tools/check-dist.sh
# The lowest versions of pyproject.toml's ranges (dagster 1.13.2 …): unit tests and the run
# launcher's integration tests in a second, cached venv. Everything below runs the highest.
bash tools/test-dagster-range.sh

# Each benchmark once, at its smallest size, so none can rot (not a measurement; before pytest
# so that pytest's summary stays the last line).
bash benchmarks/run_smallest.sh

set +e
.venv/bin/pytest "$@"
status=$?
set -e
if [[ $status -eq 5 ]]; then
  echo "[test] pytest collected no tests: that is a failure here" >&2
  exit 1
fi
echo "[test] finished in $((SECONDS - started)) s with pytest exit $status" >&2
exit $status
