"""``python -m floe_dagster_secrets.manifest``: print the manifest's JSON Schema for editors."""

from __future__ import annotations

import sys

from floe_dagster_secrets.manifest.json_schema import write_json_schema

if __name__ == "__main__":
    write_json_schema(sys.stdout)
