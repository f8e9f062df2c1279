"""A working start for ``dg scaffold defs floe_dagster_secrets.components.FloeSecretsComponent``.

Writes the ``defs.yaml`` that names the manifest and, when the named manifest does not exist
yet, a minimal one on the local store (names only: the secret itself is created with
``floe secrets create``, never written by the scaffolder).
"""

from pathlib import Path

import yaml
from dagster.components import Scaffolder, ScaffoldRequest, scaffold_component
from pydantic import BaseModel, Field

STARTER_MANIFEST = """\
# floe manifest: which backend holds the secrets, and which assets use each one. Names only.
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
      path: .floe/warehouse/dev.duckdb

secrets:
  duckdb-dev-credentials:
    keys: [DUCKDB_ENCRYPTION_KEY]
    max_age_days: 90
    on_rotation: rematerialize
    assets: []
"""


class FloeSecretsScaffoldParams(BaseModel):
    """``--json-params`` of the scaffolder (or ``--manifest`` / ``--defs-folder`` flags)."""

    manifest: str = Field(
        "manifest.yaml", description="Manifest path, relative to the new defs.yaml's folder."
    )
    defs_folder: str | None = Field(
        None, description="Sub-folder holding the components whose assets use the secrets."
    )


class FloeSecretsScaffolder(Scaffolder[FloeSecretsScaffoldParams]):
    """Scaffolds ``defs.yaml`` (and a starter manifest if there is none) for the component."""

    @classmethod
    def get_scaffold_params(cls) -> type[FloeSecretsScaffoldParams]:
        """The parameters ``dg scaffold`` accepts."""
        return FloeSecretsScaffoldParams

    def scaffold(self, request: ScaffoldRequest[FloeSecretsScaffoldParams]) -> None:
        """Write the component's ``defs.yaml``; create the manifest and wrapped folder if absent."""
        params = request.params
        attributes: dict[str, str] = {"manifest": params.manifest}
        if params.defs_folder:
            attributes["defs_folder"] = params.defs_folder
            (request.target_path / params.defs_folder).mkdir(parents=True, exist_ok=True)
        scaffold_component(request, attributes)
        manifest = Path(params.manifest)
        if not manifest.is_absolute():
            manifest = request.target_path / manifest
        if not manifest.exists() and "{{" not in params.manifest:
            manifest.parent.mkdir(parents=True, exist_ok=True)
            yaml.safe_load(STARTER_MANIFEST)  # the template stays valid YAML
            manifest.write_text(STARTER_MANIFEST)
