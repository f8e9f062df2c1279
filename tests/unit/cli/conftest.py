"""A working directory with a manifest on the local backend, and a CliRunner bound to ``floe``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_samples import MANIFEST, Run
from click.testing import CliRunner, Result

from floe_dagster_secrets.cli.app import cli
from floe_dagster_secrets.masking import get_masker


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A project directory holding manifest.yaml, as the working directory; masker emptied."""
    (tmp_path / "manifest.yaml").write_text(MANIFEST)
    monkeypatch.chdir(tmp_path)
    get_masker().clear()
    yield tmp_path
    get_masker().clear()


@pytest.fixture
def run(workdir: Path) -> Run:
    """Invoke ``floe`` in-process: ``run("secrets", "list", input=...)``."""
    runner = CliRunner()

    def invoke(*args: str, input: str | bytes | None = None) -> Result:
        return runner.invoke(cli, list(args), input=input, catch_exceptions=False)

    return invoke
