#!/usr/bin/env bash
# The release check: what a user gets from `pip install floe-dagster-secrets`.
#   1. `python -m build` makes a wheel and an sdist (in a temporary directory, never in the tree);
#   2. `twine check --strict` accepts both (metadata, README rendering);
#   3. each installs into a clean virtualenv with the core dependencies only (no extras), imports
#      the package, runs `floe --help`, and none of the demo's packages (dagster-webserver,
#      dagster-dbt, dbt, duckdb) came with it.
# The clean venvs are made with uv, whose download cache keeps a warm run to seconds.
# Prints the wheel's size and the number of core dependencies; exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
uv=.venv/bin/uv
started=$SECONDS
work=$(mktemp -d /tmp/floe-dist.XXXXXX)
trap 'rm -rf "$work"' EXIT
say() { printf '[check-dist] %s\n' "$*" >&2; }

# --no-isolation: the venv's setuptools (the build requirement) is already there; an isolated
# build would fetch it again every run. The copy keeps build/ and *.egg-info out of the tree.
mkdir "$work/src"
git ls-files -z --cached --others --exclude-standard |
  tar --null -T - -cf - 2>/dev/null | tar -C "$work/src" -xf -
"$py" -m build --no-isolation --outdir "$work/dist" "$work/src" >"$work/build.log" 2>&1 ||
  { tail -30 "$work/build.log" >&2; say "python -m build failed"; exit 1; }
wheel=$(ls "$work"/dist/*.whl)
sdist=$(ls "$work"/dist/*.tar.gz)
"$py" -m twine check --strict "$wheel" "$sdist" >&2

core=$(unzip -p "$wheel" '*.dist-info/METADATA' | grep '^Requires-Dist:' | grep -vc 'extra ==' || true)
say "wheel $(basename "$wheel"): $(stat -c %s "$wheel") bytes, $core core dependencies"

for artifact in "$wheel" "$sdist"; do
  venv="$work/venv-$(basename "$artifact" | sed 's/.*\.//')"
  "$uv" venv --quiet --python "$py" "$venv"
  "$uv" pip install --quiet --python "$venv/bin/python" "$artifact" >&2
  "$venv/bin/python" -c 'import floe_dagster_secrets as f, floe_dagster_secrets.launcher, floe_dagster_secrets.resources; print(f.__version__)' >/dev/null
  "$venv/bin/floe" --help >/dev/null
  extra=$("$uv" pip list --quiet --python "$venv/bin/python" 2>/dev/null |
    grep -iE '^(dagster-webserver|dagster-dbt|dbt-core|duckdb|hvac|dagster-postgres) ' || true)
  if [[ -n $extra ]]; then
    say "$(basename "$artifact") installed packages only an extra should bring: $extra"
    exit 1
  fi
  say "$(basename "$artifact"): clean venv, core dependencies only: import and floe --help ok"
done
say "done in $((SECONDS - started)) s"
