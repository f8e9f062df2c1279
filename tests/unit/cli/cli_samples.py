"""Values and the manifest the CLI tests share."""

from __future__ import annotations

import textwrap
from collections.abc import Callable

from click.testing import Result

CANARY = "canary-cli-5b7e19d04c"
CANARY_2 = "canary-cli-rotated-0a8f6d"

MANIFEST = textwrap.dedent(
    """\
    environment: dev
    plugins:
      secrets:
        type: local
        namespace: floe-jobs
        config:
          path: .floe/secrets
      compute:
        type: duckdb
        connection_secret_ref: duckdb-dev-credentials
        config:
          path: warehouse.duckdb
    ingestion:
      pipelines:
        - name: salesforce-sync
          source:
            type: salesforce
            secret_refs:
              client_id: salesforce-dev-credentials
    secrets:
      salesforce-dev-credentials:
        keys: [CLIENT_ID, CLIENT_SECRET]
        max_age_days: 30
    """
)

Run = Callable[..., Result]
