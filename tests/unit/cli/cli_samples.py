"""Values and the manifest the CLI tests share."""

from __future__ import annotations

from collections.abc import Callable

from click.testing import Result

from tests.sample_project import sample_manifest

CANARY = "canary-cli-5b7e19d04c"
CANARY_2 = "canary-cli-rotated-0a8f6d"

MANIFEST = sample_manifest(
    {"type": "local", "namespace": "floe-jobs", "config": {"path": ".floe/secrets"}},
    policy={"max_age_days": 30},
)
"""The sample project on the local store; the Salesforce secret's policy is last (tests append
policy lines)."""

Run = Callable[..., Result]
