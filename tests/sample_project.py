"""The sample project the CLI tests share, unit and integration: its manifest for any backend.

A DuckDB warehouse whose compute secret is ``duckdb-dev-credentials`` and, unless a test manages
one secret only, a Salesforce pipeline reading ``salesforce-dev-credentials`` (keys ``CLIENT_ID``,
``CLIENT_SECRET``). Only ``plugins.secrets`` differs between the backends' tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

COMPUTE_SECRET = "duckdb-dev-credentials"
INGESTION_SECRET = "salesforce-dev-credentials"


def sample_manifest(
    secrets: Mapping[str, Any],
    *,
    pipeline: bool = True,
    policy: Mapping[str, Any] | None = None,
) -> str:
    """The sample manifest's YAML with ``plugins.secrets`` = ``secrets``.

    Args:
        secrets: ``type``, ``namespace`` and the backend's ``config``.
        pipeline: Add the Salesforce pipeline and its secret's policy (keys), so the manifest
            references two secrets instead of the compute secret alone.
        policy: More fields of that secret's policy (``max_age_days`` …). The policy is the
            document's last mapping, so a test may append policy lines to the text.
    """
    manifest: dict[str, Any] = {
        "environment": "dev",
        "plugins": {
            "secrets": dict(secrets),
            "compute": {
                "type": "duckdb",
                "connection_secret_ref": COMPUTE_SECRET,
                "config": {"path": "warehouse.duckdb"},
            },
        },
    }
    if pipeline:
        manifest["ingestion"] = {
            "pipelines": [
                {
                    "name": "salesforce-sync",
                    "source": {
                        "type": "salesforce",
                        "secret_refs": {"client_id": INGESTION_SECRET},
                    },
                }
            ]
        }
        manifest["secrets"] = {
            INGESTION_SECRET: {"keys": ["CLIENT_ID", "CLIENT_SECRET"], **(policy or {})}
        }
    return yaml.safe_dump(manifest, sort_keys=False)
