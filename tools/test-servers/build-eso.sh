#!/usr/bin/env bash
# Build the External Secrets Operator controller from the Go module proxy and cache it, with the
# release's own CRD bundle, outside the repository, keyed by ESO_VERSION (versions.env). A cached
# release is not rebuilt, so only a fresh machine pays the cold build.
#
# The module's `main` is at its root and its go.mod carries a replace (sprig), which a wrapper
# module would not see: so the controller is built as the main module, from a writable copy of
# the downloaded module source.
#
#   tools/test-servers/build-eso.sh                  # build when missing
#   FLOE_TEST_CACHE=/some/dir tools/test-servers/...  # cache elsewhere
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
cache=${FLOE_TEST_CACHE:-$HOME/.cache/floe-test-servers}
mkdir -p "$cache"
export CGO_ENABLED=0 GOFLAGS="-buildvcs=false -mod=mod"

log() { printf '[build-eso] %s\n' "$*" >&2; }

# A second run (a parallel CI job, a developer and a test) waits for the first, then finds it cached.
exec 9>"$cache/.build-eso.lock"
if command -v flock >/dev/null; then flock 9; fi

out="$cache/eso-$ESO_VERSION"
if [[ -x "$out/external-secrets" && -s "$out/crds/bundle.yaml" ]]; then
  log "external-secrets $ESO_VERSION: cached in $out"
  exit 0
fi

module=github.com/external-secrets/external-secrets
work=$(mktemp -d)
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work" "$out.tmp"' EXIT
log "external-secrets $ESO_VERSION: building the controller (cold build takes many minutes)"
started=$SECONDS
src=$(go mod download -json "$module@$ESO_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
# The module cache is read-only; go build in the main module may need to touch go.sum.
cp -r "$src" "$work/src"
chmod -R u+w "$work/src"
mkdir -p "$out.tmp/crds"
(
  cd "$work/src"
  go build -trimpath -ldflags="-s -w" -o "$out.tmp/external-secrets" .
)
cp "$work/src/deploy/crds/bundle.yaml" "$out.tmp/crds/bundle.yaml"
rm -rf "$out" && mv "$out.tmp" "$out"
log "external-secrets $ESO_VERSION: built in $((SECONDS - started)) s"
