#!/usr/bin/env bash
# Build the Go test servers from the Go module proxy and cache the binaries outside the repository,
# keyed by version: etcd, and from one k8s.io/kubernetes release kube-apiserver, kubectl and the
# node's kubelet, kube-controller-manager and kube-scheduler (one module, one build cache).
# A binary already in the cache is not rebuilt,
# so only a fresh machine pays the cold build.
#
#   tools/test-servers/build-go-servers.sh            # build what is missing
#   FLOE_TEST_CACHE=/some/dir tools/test-servers/...  # cache elsewhere
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
cache=${FLOE_TEST_CACHE:-$HOME/.cache/floe-test-servers}
mkdir -p "$cache"
export CGO_ENABLED=0 GOFLAGS=-mod=mod

log() { printf '[build-go-servers] %s\n' "$*" >&2; }

# Two runs at once (parallel CI jobs, a developer and a test) would race on the same .tmp
# directories: the second waits for the first and then finds the binaries cached.
exec 9>"$cache/.build.lock"
if command -v flock >/dev/null; then flock 9; fi

# Kubernetes' go.mod requires its staging modules at v0.0.0 and resolves them through local
# replaces that a consumer never sees; a wrapper module must pin each one to the published
# v0.<minor>.<patch>. The list is read from that release's own go.mod, never kept by hand.
K8S_COMMANDS=(kube-apiserver kubectl kubelet kube-controller-manager kube-scheduler)

build_kubernetes() {
  local out="$cache/kubernetes-$K8S_VERSION" missing=() cmd
  for cmd in "${K8S_COMMANDS[@]}"; do [[ -x "$out/$cmd" ]] || missing+=("$cmd"); done
  if [[ ${#missing[@]} -eq 0 ]]; then
    log "kubernetes $K8S_VERSION: cached in $out"; return
  fi
  local staging="v0.${K8S_VERSION#v1.}"
  local work; work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  log "kubernetes $K8S_VERSION: building ${missing[*]} (cold build takes minutes)"
  local started=$SECONDS
  (
    cd "$work"
    go mod init floe.local/k8s-test-build >/dev/null 2>&1
    local gomod
    gomod=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
    # Copy upstream's go and godebug lines so GODEBUG defaults match the release.
    local go_line; go_line=$(grep -m1 '^go ' "$gomod" | awk '{print $2}')
    go mod edit -go="$go_line"
    grep -m1 '^godebug ' "$gomod" | sed 's/^godebug //' | while read -r kv; do go mod edit -godebug="$kv"; done || true
    grep -E '^\s+k8s\.io/[a-z0-9-]+ v0\.0\.0(\s|$)' "$gomod" | awk '{print $1}' | sort -u | while read -r mod; do
      go mod edit -replace="$mod=$mod@$staging"
    done
    local pkgs=() cmd
    for cmd in "${missing[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$cmd@$K8S_VERSION"); done
    go get "${pkgs[@]}"
    local ldflags="-s -w"
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
      ldflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$(echo "$K8S_VERSION" | cut -d. -f2)"
    done
    rm -rf "$out.tmp" && mkdir -p "$out.tmp"
    for cmd in "${missing[@]}"; do
      local t0=$SECONDS
      go build -trimpath -ldflags="$ldflags" -o "$out.tmp/$cmd" "k8s.io/kubernetes/cmd/$cmd"
      log "kubernetes $K8S_VERSION: $cmd built in $((SECONDS - t0)) s"
    done
  )
  # binaries already cached stay; only the missing ones are added
  mkdir -p "$out" && mv "$out.tmp"/* "$out"/ && rmdir "$out.tmp"
  log "kubernetes $K8S_VERSION: built in $((SECONDS - started)) s"
}

# etcd's server module is the etcd binary (package main at the module root) and its go.mod has
# local sibling replaces, so it too is built from a wrapper module.
build_etcd() {
  local out="$cache/etcd-$ETCD_VERSION"
  if [[ -x "$out/etcd" ]]; then log "etcd $ETCD_VERSION: cached in $out"; return; fi
  local work; work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  log "etcd $ETCD_VERSION: building"
  local started=$SECONDS
  (
    cd "$work"
    go mod init floe.local/etcd-test-build >/dev/null 2>&1
    go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
    mkdir -p "$out.tmp"
    go build -trimpath -ldflags="-s -w" -o "$out.tmp/etcd" go.etcd.io/etcd/server/v3
  )
  rm -rf "$out" && mv "$out.tmp" "$out"
  log "etcd $ETCD_VERSION: built in $((SECONDS - started)) s"
}

case "${1:-all}" in
  kubernetes) build_kubernetes ;;
  etcd) build_etcd ;;
  all) build_etcd; build_kubernetes ;;
  *) echo "usage: $0 [all|kubernetes|etcd]" >&2; exit 2 ;;
esac
