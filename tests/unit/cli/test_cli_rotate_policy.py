"""``rotate --dry-run`` says what the rotation sensor will launch, by the secret's on_rotation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_samples import CANARY, MANIFEST, Run

SALESFORCE = "salesforce-dev-credentials"


def _setup(run: Run, workdir: Path, policy: str) -> None:
    manifest = MANIFEST + f"    on_rotation: {policy}\n    assets: [raw/accounts, marts/pipeline]\n"
    (workdir / "manifest.yaml").write_text(manifest)
    made = run(
        "secrets", "create", SALESFORCE, "--from-stdin",
        input=f"CLIENT_ID=client\nCLIENT_SECRET={CANARY}\n",
    )  # fmt: skip
    assert made.exit_code == 0, made.output


@pytest.mark.parametrize(
    ("policy", "line"),
    [
        ("rematerialize", "- Would re-materialize: raw/accounts, marts/pipeline"),
        ("checks", "- Would re-run the asset checks of: raw/accounts, marts/pipeline"),
        (
            "none",
            "- on_rotation is none: the rotation sensor launches nothing for "
            "raw/accounts, marts/pipeline",
        ),
    ],
)
def test_dry_run_follows_the_policy(run: Run, workdir: Path, policy: str, line: str) -> None:
    _setup(run, workdir, policy)
    result = run("secrets", "rotate", SALESFORCE, "--generate", "CLIENT_SECRET", "--dry-run")
    assert result.exit_code == 0, result.output
    assert line in result.stdout.splitlines()
    document = json.loads(
        run(
            "secrets", "rotate", SALESFORCE, "--generate", "CLIENT_SECRET", "--dry-run",
            "-o", "json",
        ).stdout
    )  # fmt: skip
    assert document["on_rotation"] == policy
    assert document["assets"] == ["raw/accounts", "marts/pipeline"]
    assert CANARY not in result.stdout
