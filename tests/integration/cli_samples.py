"""What the integration CLI tests share: the sample project on disk and the installed ``floe``.

Every backend's CLI test (``test_local_cli``, ``test_k8s_cli``, ``test_vault_cli``,
``eso/test_eso_cli``) runs the real console script against the sample project of
:mod:`tests.sample_project`; only ``plugins.secrets`` differs between them.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.sample_project import COMPUTE_SECRET, INGESTION_SECRET, sample_manifest
from tests.servers._process import clean_env

FLOE = Path(sys.executable).parent / "floe"
"""The installed ``floe`` console script."""
__all__ = [
    "COMPUTE_SECRET",
    "FLOE",
    "INGESTION_SECRET",
    "run_floe",
    "sample_manifest",
    "write_sample_manifest",
]


def write_sample_manifest(
    directory: Path, secrets: Mapping[str, Any], *, pipeline: bool = True
) -> Path:
    """:func:`sample_manifest` written to ``directory/manifest.yaml``; its path."""
    path = directory / "manifest.yaml"
    path.write_text(sample_manifest(secrets, pipeline=pipeline))
    return path


def run_floe(
    *args: str,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run ``floe`` in ``cwd`` with a clean environment (HOME=cwd, no colour, wide, no kubeconfig
    to fall back on) plus ``env``."""
    return subprocess.run(
        [str(FLOE), *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=clean_env({"HOME": str(cwd), "NO_COLOR": "1", "COLUMNS": "200", **(env or {})}),
    )
