"""The images the test node's pods run, built by ``tools/image/build-image.sh`` and imported.

- ``ensure_user_code_image``: the repository's ``Dockerfile`` (the package, dagster, dagster-k8s,
  dagster-dbt, the dbt adapters and the demo definitions), tagged
  ``docker.io/floe/user-code:<hash of what goes into it>``;
- ``ensure_pause_image``: the pod-sandbox image containerd's CRI starts for every pod,
  ``docker.io/local/pause:1``.

Both are built without a Docker engine or a registry (buildah, a debootstrapped Debian base) and
cached as OCI archives under ``$FLOE_TEST_CACHE/images``: a warm call only imports (the 770 MB
user-code image into a fresh containerd: 30-40 s on this loaded 2-core machine, most of it
containerd digesting and unpacking), or finds the image already imported and returns in a second.
An edit of the package or the definitions rebuilds only the layers above the dependencies (about
a minute). Pods must use ``imagePullPolicy: Never``.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.servers._process import LOG_TAIL_LINES, ServerStartError
from tests.servers.binaries import REPO_ROOT

BUILD_SCRIPT = REPO_ROOT / "tools" / "image" / "build-image.sh"
CRI_NAMESPACE = "k8s.io"
# A cold build (debootstrap, pip install of dagster and dbt) takes minutes; a warm one seconds.
BUILD_TIMEOUT_S = 1800


def build_image(
    target: str,
    containerd_socket: Path | str | None = None,
    *,
    namespace: str = CRI_NAMESPACE,
) -> str:
    """Run the build script for ``target`` (``user-code`` or ``pause``); return the reference.

    Without ``containerd_socket`` the image is only built and cached. The script's progress (each
    step's wall time) is in the error when it fails.
    """
    command = ["bash", str(BUILD_SCRIPT), target, "--namespace", namespace]
    if containerd_socket is not None:
        command += ["--containerd-socket", str(containerd_socket)]
    env = {k: v for k, v in os.environ.items() if k != "FLOE_CONTAINERD_SOCKET"}
    try:
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            env=env,
            timeout=BUILD_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as e:
        raise ServerStartError(
            f"building the {target} image took longer than {BUILD_TIMEOUT_S} s: {_tail(e.stderr)}"
        ) from e
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        raise ServerStartError(
            f"{BUILD_SCRIPT.name} {target} failed (exit {result.returncode}); "
            f"run it by hand to see every step:\n{_tail(result.stderr)}"
        )
    return lines[-1]


def _tail(text: str | bytes | None) -> str:
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return "\n".join((text or "").splitlines()[-LOG_TAIL_LINES:])


def ensure_user_code_image(containerd_socket: Path | str, *, namespace: str = CRI_NAMESPACE) -> str:
    """The user-code image, built if needed and imported into that containerd; its reference."""
    return build_image("user-code", containerd_socket, namespace=namespace)


def ensure_pause_image(containerd_socket: Path | str, *, namespace: str = CRI_NAMESPACE) -> str:
    """The pod-sandbox image ``docker.io/local/pause:1``, imported into that containerd."""
    return build_image("pause", containerd_socket, namespace=namespace)
