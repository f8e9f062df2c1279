"""``FloeSecretsComponent``: floe's secrets declared in a ``dg`` project's ``defs.yaml``.

No ``from __future__ import annotations`` here: Dagster resolves the component's field
annotations at class creation to build its YAML schema.
"""

from pathlib import Path

import dagster as dg
from dagster.components import load_defs
from pydantic import Field

from floe_dagster_secrets.components.scaffolder import FloeSecretsScaffolder
from floe_dagster_secrets.components.wiring import secured_definitions
from floe_dagster_secrets.errors import InvalidManifestError
from floe_dagster_secrets.manifest import load_manifest
from floe_dagster_secrets.resources import secrets_resource_from_manifest


class RotationSensorSettings(dg.Model):
    """``rotation_sensor:`` of the component."""

    name: str = Field("floe_secret_rotation", description="Sensor name shown in the UI.")
    job: str | None = Field(
        None,
        description="An asset job of the wrapped folder to re-run when a secret rotates. "
        "Unset: the wrapped assets that use the secret, through Dagster's asset job.",
    )
    minimum_interval_seconds: int = Field(
        60, description="Seconds between ticks; each tick is one metadata read per namespace."
    )


@dg.scaffold_with(FloeSecretsScaffolder)
class FloeSecretsComponent(dg.Component, dg.Model, dg.Resolvable):
    """Secrets of a floe manifest in a Dagster project: resource, lineage, checks, rotation.

    The manifest names the secrets backend and, under `secrets.<name>.assets`, which assets use
    which secret. From it this component adds:

    - the secrets resource (backend address and namespace only, never a value) under
      `resource_key`;
    - one observable asset `secrets/<name>` per secret, upstream of the assets that use it,
      and a `floe/secret.<name>` tag on those assets, so the catalog filters by secret;
    - the `floe_secrets` check on every asset that uses a secret (exists, holds its keys,
      younger than `max_age_days`);
    - the `floe_secret_rotation` sensor, which re-runs a secret's assets when it rotates.

    Put the components whose assets use the secrets (a dbt project, Python assets) in the
    folder named by `defs_folder`, below this `defs.yaml`: this component loads them and wires
    their assets. Assets defined elsewhere in the project still get their checks.

    Which secrets a *run's pod* gets is decided by the run launcher (`FloeK8sRunLauncher` in
    `dagster.yaml`), from the same `floe/secrets` metadata: that stays instance configuration.

    ```yaml
    # defs/warehouse/defs.yaml
    type: floe_dagster_secrets.components.FloeSecretsComponent
    attributes:
      manifest: "{{ project_root }}/manifest.yaml"
      defs_folder: transform          # defs/warehouse/transform/ holds the dbt component
      rotation_sensor:
        job: floe_demo_job
    ```
    """

    manifest: str = Field(
        description="Path to the floe manifest.yaml; relative paths are relative to this "
        "defs.yaml's folder.",
        examples=["{{ project_root }}/manifest.yaml", "../manifest.yaml"],
    )
    defs_folder: str | None = Field(
        None,
        description="A folder below this defs.yaml whose definitions use the secrets; loaded by "
        "this component (and by nothing else), its assets get the secret lineage.",
        examples=["transform"],
    )
    resource_key: str = Field("secrets", description="Key of the secrets resource.")
    checks: bool = Field(True, description="Add the floe_secrets check to each asset.")
    rotation_sensor: RotationSensorSettings | None = Field(
        default_factory=RotationSensorSettings,
        description="The rotation sensor's settings; null: no sensor.",
    )

    def manifest_path(self, context: dg.ComponentLoadContext) -> Path:
        """The manifest's path, resolved against the folder of this component's defs.yaml."""
        path = Path(self.manifest)
        return path if path.is_absolute() else (context.path / path).resolve()

    def _wrapped(self, context: dg.ComponentLoadContext) -> dg.Definitions | None:
        if self.defs_folder is None:
            return None
        folder = (context.path / self.defs_folder).resolve()
        if not folder.is_dir() or not folder.is_relative_to(context.path):
            raise InvalidManifestError(
                f"FloeSecretsComponent's defs_folder '{self.defs_folder}' is not a folder below "
                f"{context.path}",
                fix="name a sub-folder of the folder holding this defs.yaml",
                path=str(folder),
            )
        module = context.load_defs_relative_python_module(folder)
        loaded = load_defs(module, project_root=context.project_root)
        # A component may not return another tree's component_tree; keep the definitions only.
        return dg.Definitions(
            assets=loaded.assets,
            asset_checks=loaded.asset_checks,
            jobs=loaded.jobs,
            schedules=loaded.schedules,
            sensors=loaded.sensors,
            resources=loaded.resources,
            executor=loaded.executor,
            loggers=loaded.loggers,
            metadata=loaded.metadata,
        )

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        """Load the manifest (names only) and the wrapped folder, and wire the secrets in."""
        path = self.manifest_path(context)
        if not path.is_file():
            raise InvalidManifestError(
                f"FloeSecretsComponent's manifest '{self.manifest}' is not a file ({path})",
                fix="point attributes.manifest in defs.yaml at manifest.yaml (relative to the "
                "defs.yaml's folder, or '{{ project_root }}/…')",
                path=str(path),
            )
        manifest = load_manifest(path)
        resource = secrets_resource_from_manifest(manifest, base_dir=path.parent)
        sensor = self.rotation_sensor
        return secured_definitions(
            manifest,
            resource,
            wrapped=self._wrapped(context),
            resource_key=self.resource_key,
            checks=self.checks,
            sensor_name=sensor.name if sensor is not None else None,
            sensor_job=sensor.job if sensor is not None else None,
            minimum_interval_seconds=sensor.minimum_interval_seconds if sensor else 60,
        )
