"""What :class:`FloeSecretsComponent` adds to the definitions it wraps; pure, no I/O.

The component's YAML names a manifest; everything here turns that manifest (already loaded) and
the wrapped folder's definitions into the finished ``Definitions``. Kept apart from the component
class so the wiring has unit tests without a ``dg`` project on disk.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import dagster as dg

from floe_dagster_secrets.asset_metadata import secrets_from_metadata, secrets_metadata
from floe_dagster_secrets.assets import secret_assets, with_secret_lineage
from floe_dagster_secrets.checks import secret_asset_checks
from floe_dagster_secrets.errors import InvalidManifestError
from floe_dagster_secrets.manifest import Manifest
from floe_dagster_secrets.resources.base import FloeSecretsResource
from floe_dagster_secrets.sensors import make_secret_rotation_sensor

if TYPE_CHECKING:
    # Type only: define_asset_job's return type is not exported by dagster.
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )


def manifest_asset_secrets(manifest: Manifest) -> dict[dg.AssetKey, tuple[str, ...]]:
    """Asset key → secrets it uses, from the manifest's ``secrets.<name>.assets`` lists."""
    by_asset: dict[dg.AssetKey, list[str]] = {}
    for name, policy in (manifest.secrets or {}).items():
        for key in policy.assets:
            by_asset.setdefault(dg.AssetKey.from_user_string(key), []).append(name)
    return {key: tuple(dict.fromkeys(names)) for key, names in by_asset.items()}


def _assets_defs(defs: dg.Definitions) -> list[dg.AssetsDefinition]:
    found: list[dg.AssetsDefinition] = []
    for item in defs.assets or ():
        if isinstance(item, dg.AssetsDefinition):
            found.append(item)
        elif isinstance(item, dg.AssetSpec):
            found.append(dg.AssetsDefinition(specs=[item]))
        else:  # a SourceAsset or a cacheable asset: no spec to give secrets to
            raise InvalidManifestError(
                f"The folder wrapped by FloeSecretsComponent defines {type(item).__name__} "
                f"{item!r}, which cannot carry secret lineage",
                fix="define it as an @asset, a multi_asset or an AssetSpec",
            )
    return found


def _stand_ins(
    by_asset: Mapping[dg.AssetKey, Sequence[str]], defined: Iterable[dg.AssetKey]
) -> list[dg.AssetSpec]:
    """Specs naming the secrets of manifest assets defined elsewhere in the project.

    Only used to build their ``floe_secrets`` checks (a check may target any asset of the code
    location); they are never added to the definitions themselves.
    """
    have = set(defined)
    return [
        dg.AssetSpec(key, metadata=secrets_metadata(names))
        for key, names in by_asset.items()
        if key not in have
    ]


def _rotation_target(
    wired: Sequence[dg.AssetsDefinition], jobs: Sequence[Any], job_name: str | None
) -> UnresolvedAssetJobDefinition | dg.JobDefinition | list[dg.AssetsDefinition] | None:
    """What the rotation sensor re-runs: the named job, else the wrapped assets using secrets."""
    if job_name is not None:
        for job in jobs:
            if getattr(job, "name", None) == job_name:
                found: UnresolvedAssetJobDefinition | dg.JobDefinition = job
                return found
        names = ", ".join(sorted(str(getattr(j, "name", j)) for j in jobs)) or "none"
        raise InvalidManifestError(
            f"FloeSecretsComponent's rotation_sensor.job '{job_name}' is not a job of the folder "
            f"it wraps (jobs there: {names})",
            fix="name an asset job defined in the wrapped folder, or leave job unset to re-run "
            "the assets themselves",
        )
    using = [
        assets_def
        for assets_def in wired
        if assets_def.is_executable
        and any(secrets_from_metadata(spec.metadata or {}) for spec in assets_def.specs)
    ]
    return using or None


def secured_definitions(
    manifest: Manifest,
    resource: FloeSecretsResource,
    *,
    wrapped: dg.Definitions | None = None,
    resource_key: str = "secrets",
    checks: bool = True,
    sensor_name: str | None = "floe_secret_rotation",
    sensor_job: str | None = None,
    minimum_interval_seconds: int = 60,
) -> dg.Definitions:
    """The wrapped definitions with floe's secrets wired in.

    - every wrapped asset that uses a secret (its ``floe/secrets`` metadata, or the manifest's
      ``secrets.<name>.assets``) gets the secret assets as upstream deps, a ``floe/secret.<name>``
      tag per secret and ``floe/secrets`` metadata (what the run launcher reads);
    - one observable asset ``secrets/<name>`` per secret the manifest references;
    - the ``floe_secrets`` check on every asset that uses a secret, wrapped or not;
    - the rotation sensor, re-running ``sensor_job`` (a job of the wrapped folder) or the
      wrapped assets that use a secret; none when there is nothing to re-run;
    - ``resource`` under ``resource_key``.

    Raises:
        InvalidManifestError: ``sensor_job`` is not a job of the wrapped folder.
    """
    inner = wrapped if wrapped is not None else dg.Definitions()
    wired = with_secret_lineage(_assets_defs(inner), manifest)
    defined = [spec.key for assets_def in wired for spec in assets_def.specs]
    by_asset = manifest_asset_secrets(manifest)
    stand_ins = _stand_ins(by_asset, defined)

    asset_checks: list[object] = list(inner.asset_checks or ())
    if checks:
        asset_checks += secret_asset_checks(
            [*wired, *stand_ins], manifest=manifest, resource_key=resource_key
        )
    sensors: list[object] = list(inner.sensors or ())
    if sensor_name:
        target = _rotation_target(wired, list(inner.jobs or ()), sensor_job)
        if target is not None:
            sensors.append(
                make_secret_rotation_sensor(
                    target=target,
                    name=sensor_name,
                    secrets_resource_key=resource_key,
                    manifest=manifest,
                    minimum_interval_seconds=minimum_interval_seconds,
                )
            )
    observed = secret_assets(manifest, assets=wired, resource_key=resource_key)
    return dg.Definitions(
        assets=[*wired, observed],
        asset_checks=asset_checks,  # type: ignore[arg-type]
        jobs=inner.jobs,
        schedules=inner.schedules,
        sensors=sensors,  # type: ignore[arg-type]
        resources={**(inner.resources or {}), resource_key: resource},
        executor=inner.executor,
        loggers=inner.loggers,
        metadata=inner.metadata,
    )
