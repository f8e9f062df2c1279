"""Resource for the local secrets store: the embedded default for a laptop or a demo."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from floe_dagster_secrets.resources.base import FloeSecretsResource


class LocalSecretsResource(FloeSecretsResource):
    """Secrets from the local store (files under ``path``), fetched when a step runs.

    The resource holds the store's *path*, never a value, so nothing secret reaches the job
    snapshot, GraphQL or the UI.

    For example:

    ```python
    from dagster import Definitions, asset

    from floe_dagster_secrets.resources import LocalSecretsResource


    @asset
    def orders(secrets: LocalSecretsResource) -> None:
        env = secrets.env_for(["duckdb-dev-credentials"])
        ...  # hand env to a subprocess


    defs = Definitions(
        assets=[orders],
        resources={"secrets": LocalSecretsResource(path=".floe/secrets",
                                                   namespace="floe-jobs")},
    )
    ```
    """

    backend: ClassVar[str] = "local"

    path: str = Field(
        default=".floe/secrets",
        description=(
            "Directory of the local secrets store (relative paths are resolved against the "
            "working directory of the process that runs the step). A path, never a value."
        ),
    )

    def backend_kwargs(self) -> dict[str, Any]:
        """``LocalSecretsPlugin(path=…)``."""
        return {"path": self.path}
