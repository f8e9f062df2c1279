#!/usr/bin/env bash
# Build the repository's Dockerfile (the user-code image) or the pod-sandbox "pause" image without
# a Docker engine or an image registry, and optionally import it into a containerd.
#
#   tools/image/build-image.sh [user-code|pause] [--containerd-socket SOCK] [--namespace NS]
#
#   user-code (default)  the repository's Dockerfile -> docker.io/floe/user-code:<hash>
#   pause                tools/image/pause.Dockerfile (busybox sleeping forever) -> docker.io/local/pause:1
#   --containerd-socket  import into the containerd listening there (or FLOE_CONTAINERD_SOCKET);
#                        without it the image is only built and cached (build-only mode)
#   --namespace          containerd namespace to import into (default k8s.io: the CRI's)
#
# How: Debian's buildah (installed when missing) with --isolation chroot and its own storage under
# the cache; the Dockerfile's base (BASE_IMAGE) is a Debian bookworm root made locally with
# debootstrap from the machine's own Debian mirror. pip reaches its index with the host's CA bundle
# passed as a build secret (never in a layer). The image is exported as an OCI archive cached under
# ${FLOE_TEST_CACHE:-~/.cache/floe-test-servers}/images/, keyed by a hash of everything that goes
# into it: a cached archive is only imported, never rebuilt. Each step's wall time goes to stderr;
# the last line on stdout is the image reference.
set -euo pipefail
# One compound command, read whole before it runs: editing this file (a git checkout) during a
# build cannot make the running build execute a shifted line.
{

repo=$(cd "$(dirname "$0")/../.." && pwd)
here="$repo/tools/image"
cache=${FLOE_TEST_CACHE:-$HOME/.cache/floe-test-servers}/images
target=user-code
socket=${FLOE_CONTAINERD_SOCKET:-}
namespace=k8s.io
while [[ $# -gt 0 ]]; do
  case $1 in
    user-code|pause) target=$1 ;;
    --containerd-socket) socket=$2; shift ;;
    --namespace) namespace=$2; shift ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) printf 'build-image.sh: unknown argument %q (see --help)\n' "$1" >&2; exit 2 ;;
  esac
  shift
done

started=$SECONDS
log() { printf '[build-image] %s\n' "$*" >&2; }
step() {  # step NAME COMMAND...: run a step and report its wall time
  local name=$1 t0=$SECONDS
  shift
  "$@"
  log "$name: $((SECONDS - t0)) s"
}
as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo -n "$@"; fi; }

# The CA bundle pip verifies its index with: pip's own setting first, then the system bundle.
# Passed to the build as a secret only.
pip_cert=${FLOE_PIP_CERT:-${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}}

# The Debian mirror the machine's own apt uses (deb822 or one-line sources).
debian_mirror() {
  if [[ -n ${FLOE_DEBIAN_MIRROR:-} ]]; then echo "$FLOE_DEBIAN_MIRROR"; return; fi
  local uri=""
  if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
    uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
  fi
  if [[ -z $uri && -f /etc/apt/sources.list ]]; then
    uri=$(awk '$1 == "deb" && $0 !~ /security/ {for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) {print $i; exit}}' /etc/apt/sources.list)
  fi
  echo "${uri:-http://deb.debian.org/debian}"
}

# Everything that defines the base root filesystem; its hash names the base image.
BASE_SUITE=bookworm
BASE_INCLUDE=python3,python3-venv,ca-certificates
BASE_RECIPE_VERSION=1  # bump when make_base's clean-up changes
base_params="debootstrap --variant=minbase --include=$BASE_INCLUDE $BASE_SUITE $(debian_mirror) recipe=$BASE_RECIPE_VERSION"
base_hash=$(printf '%s' "$base_params" | sha256sum | cut -c1-16)
base_image="localhost/floe-base:$BASE_SUITE-$base_hash"

ensure_tools() {
  local missing=()
  command -v buildah >/dev/null || missing+=(buildah)
  if [[ $target == user-code ]]; then command -v debootstrap >/dev/null || missing+=(debootstrap); fi
  if [[ $target == pause && ! -x /bin/busybox ]]; then missing+=(busybox-static); fi
  if [[ ${#missing[@]} -eq 0 ]]; then return; fi
  log "installing ${missing[*]} (Debian)"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -q >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q \
    --no-install-recommends "${missing[@]}" >&2
}

mkdir -p "$cache"
# Two builds of one image at once (a CI setup step and a test) would race on the same archive;
# buildah's storage has its own locks, so the pause image never waits for a user-code build.
exec 9>"$cache/.build-$target.lock"
if command -v flock >/dev/null; then flock 9; fi

storage=(--root "$cache/buildah/storage" --runroot "$cache/buildah/run"
         --storage-driver "${FLOE_BUILDAH_DRIVER:-overlay}")
bah() { buildah "${storage[@]}" "$@"; }

# Unmount whatever debootstrap left mounted under DIR (proc, sys) before removing DIR.
remove_tree() {
  local dir=$1 mnt
  [[ -e $dir ]] || return 0
  while read -r mnt; do
    umount -l "$mnt" 2>/dev/null || true
  done < <(awk -v d="$dir/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r)
  rm -rf --one-file-system "$dir"
}

make_base() {
  if bah inspect --type image "$base_image" >/dev/null 2>&1; then
    log "base: $base_image cached"
    return
  fi
  local rootfs="$cache/base-rootfs.tmp"
  remove_tree "$rootfs"
  log "base: $base_params"
  trap 'remove_tree "'"$rootfs"'"; rm -rf "$ctx"' EXIT
  debootstrap --variant=minbase --include="$BASE_INCLUDE" "$BASE_SUITE" "$rootfs" "$(debian_mirror)" \
    > "$cache/debootstrap.log" 2>&1 || { tail -20 "$cache/debootstrap.log" >&2; exit 1; }
  # What debootstrap leaves that an image must not carry: downloaded packages, the index, and the
  # host's name resolution (the runtime provides its own).
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
    "$rootfs"/usr/share/man "$rootfs"/usr/share/info "$rootfs"/var/log/*.log \
    "$rootfs"/etc/resolv.conf "$rootfs"/etc/hostname "$rootfs"/etc/hosts
  local ctr mnt
  ctr=$(bah from --pull=never scratch)
  mnt=$(bah mount "$ctr")
  tar -C "$rootfs" --numeric-owner --xattrs -cf - . | tar -C "$mnt" --numeric-owner --xattrs -xpf -
  bah umount "$ctr" >/dev/null
  bah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env LANG=C.UTF-8 --cmd /bin/bash --created-by "$base_params" "$ctr"
  bah commit --rm --quiet "$ctr" "$base_image" >/dev/null
  remove_tree "$rootfs"
  trap - EXIT
  log "base: committed $base_image"
}

# Stage exactly the build context (what .dockerignore lets through) and hash it: the hash of the
# files the build can see, plus the base's parameters, names the image.
stage_context() {
  local ctx=$1
  case $target in
    user-code)
      tar -C "$repo" \
        --exclude='__pycache__' --exclude='*.pyc' --exclude='.floe' --exclude='.dagster_home' \
        --exclude='*.duckdb' --exclude='*.db.wal' --exclude='.env' \
        --exclude='definitions/dbt_project/target' --exclude='definitions/dbt_project/logs' \
        --exclude='definitions/dbt_project/dbt_packages' \
        -cf - Dockerfile .dockerignore pyproject.toml constraints.txt LICENSE \
        tools/image/requirements.py workspace.yaml floe_dagster_secrets definitions | tar -C "$ctx" -xf -
      ;;
    pause)
      cp "$here/pause.Dockerfile" "$ctx/Dockerfile"
      cp /bin/busybox "$ctx/busybox"
      ;;
  esac
}
context_hash() {
  local ctx=$1
  {
    if [[ $target == user-code ]]; then printf '%s\n' "$base_params"; fi
    tar -C "$ctx" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf - .
  } | sha256sum | cut -c1-16
}

build() {  # build CTX TAG
  local ctx=$1 tag=$2
  local args=(--isolation chroot --layers --force-rm --pull=never -f "$ctx/Dockerfile" -t "$tag")
  if [[ $target == user-code ]]; then
    [[ -s $pip_cert ]] || { log "CA bundle for pip not found at $pip_cert (set FLOE_PIP_CERT)"; exit 1; }
    args+=(--build-arg "BASE_IMAGE=$base_image" --secret "id=pipcert,src=$pip_cert")
  fi
  bah bud "${args[@]}" "$ctx" >&2
}

export_archive() {  # export_archive TAG ARCHIVE REFNAME
  local tag=$1 archive=$2 refname=$3 work="$archive.work"
  rm -rf "$work" "$archive.tmp"
  mkdir -p "$work"
  # buildah 1.28 gzips every layer it pushes to an oci/oci-archive destination (-D is ignored
  # there), which costs a minute here; its dir: transport keeps them as stored. The OCI layout is
  # then just those blobs plus an index: uncompressed, because the archive stays on this disk and
  # containerd imports it without gunzip.
  bah push --quiet --disable-compression --format oci "$tag" "dir:$work/dir" >&2
  python3 - "$work" "$refname" <<'PY'
import hashlib, json, os, sys
work, refname = sys.argv[1], sys.argv[2]
src, blobs = os.path.join(work, "dir"), os.path.join(work, "layout", "blobs", "sha256")
os.makedirs(blobs)
with open(os.path.join(src, "manifest.json"), "rb") as f:
    manifest = f.read()
parsed = json.loads(manifest)
for desc in [parsed["config"], *parsed["layers"]]:
    hex_digest = desc["digest"].split(":", 1)[1]
    os.rename(os.path.join(src, hex_digest), os.path.join(blobs, hex_digest))
digest = hashlib.sha256(manifest).hexdigest()
with open(os.path.join(blobs, digest), "wb") as f:
    f.write(manifest)
index = {"schemaVersion": 2, "manifests": [{
    "mediaType": parsed["mediaType"], "digest": f"sha256:{digest}", "size": len(manifest),
    "annotations": {"org.opencontainers.image.ref.name": refname}}]}
with open(os.path.join(work, "layout", "index.json"), "w") as f:
    json.dump(index, f)
with open(os.path.join(work, "layout", "oci-layout"), "w") as f:
    json.dump({"imageLayoutVersion": "1.0.0"}, f)
PY
  tar -C "$work/layout" --sort=name -cf "$archive.tmp" oci-layout index.json blobs
  rm -rf "$work"
  mv "$archive.tmp" "$archive"
}

import_archive() {  # import_archive ARCHIVE REPOSITORY TAG
  local archive=$1 repository=$2 tag=$3 ref="$2:$3"
  local ctr=(ctr --address "$socket" --namespace "$namespace")
  local want
  want=$(python3 -c 'import json,sys,tarfile
with tarfile.open(sys.argv[1]) as t: print(json.load(t.extractfile("index.json"))["manifests"][0]["digest"])' "$archive")
  if "${ctr[@]}" images ls | awk -v r="$ref" -v d="$want" '$1 == r && $3 == d {f = 1} END {exit !f}'; then
    log "import: $ref already in containerd ($socket)"
    return
  fi
  # ctr may print "content digest …: not found" for the index: the manifest is what counts.
  "${ctr[@]}" images import --base-name "$repository" "$archive" >&2
  "${ctr[@]}" images ls | awk -v r="$ref" -v d="$want" '$1 == r && $3 == d {f = 1} END {exit !f}' \
    || { log "import: $ref with manifest $want not in containerd after import"; exit 1; }
  log "import: $ref ($want)"
}

# Every edit of the package or the definitions makes a new image: keep the newest archives and
# drop older tags from buildah's storage (the layers they share with the new one stay cached).
KEEP_ARCHIVES=${FLOE_IMAGE_KEEP:-2}
prune() {  # prune TARGET ARCHIVE TAG
  local target=$1 keep=$2 tag=$3 old
  ls -1t "$cache/$target"-*.oci.tar 2>/dev/null | tail -n +$((KEEP_ARCHIVES + 1)) | while read -r old; do
    [[ $old == "$keep" ]] || { rm -f "$old"; log "prune: removed $old"; }
  done
  bah images --format '{{.Name}}:{{.Tag}}' --filter "reference=localhost/floe/$target" 2>/dev/null |
    while read -r old; do
      [[ $old == "$tag" ]] || bah rmi "$old" >/dev/null 2>&1 || true
    done
}

step "tools" ensure_tools
case $target in
  user-code) repository=docker.io/floe/user-code ;;
  pause) repository=docker.io/local/pause ;;
esac
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
step "stage context" stage_context "$ctx"
hash=$(context_hash "$ctx")
tag=$([[ $target == pause ]] && echo 1 || echo "$hash")
ref="$repository:$tag"
archive="$cache/$target-$hash.oci.tar"
if [[ -f $archive ]]; then
  log "$target: cached $archive"
else
  if [[ $target == user-code ]]; then step "base image" make_base; fi
  trap 'rm -rf "$ctx"' EXIT  # make_base replaced it
  step "build $target" build "$ctx" "localhost/floe/$target:$hash"
  step "export OCI archive" export_archive "localhost/floe/$target:$hash" "$archive" "$tag"
  log "$target: $(du -h "$archive" | cut -f1) uncompressed archive $archive"
  step "prune" prune "$target" "$archive" "localhost/floe/$target:$hash"
fi
if [[ -n $socket ]]; then
  step "import into containerd" import_archive "$archive" "$repository" "$tag"
else
  log "build-only: no --containerd-socket / FLOE_CONTAINERD_SOCKET, nothing imported"
fi
log "total: $((SECONDS - started)) s"
echo "$ref"
exit
}
