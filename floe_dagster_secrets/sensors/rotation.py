"""A Dagster sensor that re-runs exactly the assets whose secret was rotated.

Each tick makes one cheap version read (:mod:`floe_dagster_secrets.sensors.versions`;
Kubernetes: one metadata-only LIST of the namespace, comparing ``resourceVersion``; Vault: KV
metadata ``current_version`` of the referenced paths; local: its version counter) — never a read
of secret values. The versions of the secrets the target's assets name in their ``floe/secrets``
metadata are compared with the cursor (:mod:`floe_dagster_secrets.sensors.cursor`); each rotated
secret gives one run request for the assets that depend on it, following the manifest's
``on_rotation`` policy.

What the UI shows: the description names every watched secret with its policy; a tick that
launches nothing returns a skip reason ("baseline recorded for N secrets", "no rotation since
…"); and the versions this tick read are reported as observations of the ``secrets/<name>``
assets (:mod:`floe_dagster_secrets.assets`) when the code location defines them — only the
versions new to the cursor, so the event log grows with rotations, and with no extra request.

A backend error fails the tick with our :class:`~floe_dagster_secrets.errors.FloeSecretsError`;
the cursor is then left as it was, so the rotation is picked up by the next successful tick.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence, Set
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal, cast

from dagster import (
    AssetCheckKey,
    AssetKey,
    AssetObservation,
    AssetsDefinition,
    DefaultSensorStatus,
    JobDefinition,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)

from floe_dagster_secrets.asset_metadata import secrets_from_metadata
from floe_dagster_secrets.assets.observations import observations, secret_asset_key
from floe_dagster_secrets.backends.base import SecretsPlugin
from floe_dagster_secrets.errors import FloeSecretsError, InvalidSecretReferenceError
from floe_dagster_secrets.sensors.cursor import (
    Rotation,
    RotationCursor,
    VersionDiff,
    diff_versions,
    parse_cursor,
)
from floe_dagster_secrets.sensors.versions import read_versions, tick_error

if TYPE_CHECKING:
    # Type only: define_asset_job's return type is not exported by dagster.
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )

    from floe_dagster_secrets.manifest import Manifest

OnRotation = Literal["rematerialize", "checks", "none"]
ROTATED_SECRET_TAG = "floe/rotated-secret"  # noqa: S105 - a tag name, not a password
ROTATED_VERSION_TAG = "floe/rotated-version"


@dataclass(frozen=True)
class SecretDependents:
    """The assets (and their checks) that name each secret in their ``floe/secrets`` metadata."""

    assets: Mapping[str, tuple[AssetKey, ...]]
    checks: Mapping[str, tuple[AssetCheckKey, ...]]

    @classmethod
    def from_assets(
        cls,
        assets_defs: Iterable[AssetsDefinition],
        extra: Mapping[str, Iterable[str]] = {},
        *,
        only: Set[AssetKey] | None = None,
    ) -> SecretDependents:
        """Index ``assets_defs`` by secret; ``extra`` adds manifest ``secrets.<name>.assets``.

        ``only`` limits the index to these asset keys (a job's selection).
        """
        defs = list(assets_defs)
        by_secret: dict[str, set[AssetKey]] = {}
        for assets_def in defs:
            for spec in assets_def.specs:
                if only is not None and spec.key not in only:
                    continue
                for name in secrets_from_metadata(spec.metadata or {}):
                    by_secret.setdefault(name, set()).add(spec.key)
        known = {spec.key for assets_def in defs for spec in assets_def.specs}
        if only is not None:
            known &= only
        for name, keys in extra.items():
            wanted = {AssetKey.from_user_string(k) for k in keys} & known
            if wanted:
                by_secret.setdefault(name, set()).update(wanted)
        checks: dict[str, tuple[AssetCheckKey, ...]] = {}
        for name, dependents in by_secret.items():
            checks[name] = tuple(
                sorted(
                    (c for d in defs for c in d.check_keys if c.asset_key in dependents),
                    key=lambda c: c.to_user_string(),
                )
            )
        return cls(
            assets={
                n: tuple(sorted(k, key=lambda a: a.to_user_string())) for n, k in by_secret.items()
            },
            checks=checks,
        )


def job_dependents(job: JobDefinition, extra: Mapping[str, Iterable[str]] = {}) -> SecretDependents:
    """The index for a job target: the assets (and checks) the job selects."""
    layer = job.asset_layer
    return SecretDependents.from_assets(
        layer.asset_graph.assets_defs, extra, only=layer.selected_asset_keys
    )


def run_request_for(
    rotation: Rotation,
    *,
    namespace: str,
    dependents: SecretDependents,
    policy: OnRotation,
) -> RunRequest | None:
    """The run for one rotation under ``policy``, or ``None`` when nothing is to be launched."""
    tags = {ROTATED_SECRET_TAG: rotation.secret, ROTATED_VERSION_TAG: rotation.version}
    key = rotation.run_key(namespace)
    if policy == "none":
        return None
    if policy == "checks":
        checks = dependents.checks.get(rotation.secret, ())
        if not checks:
            return None
        return RunRequest(run_key=key, asset_selection=[], asset_check_keys=list(checks), tags=tags)
    assets = dependents.assets.get(rotation.secret, ())
    if not assets:
        return None
    return RunRequest(run_key=key, asset_selection=list(assets), tags=tags)


def default_description(
    manifest: Manifest | None,
    policy_for: Callable[[str], OnRotation],
    static: SecretDependents | None,
) -> str:
    """Markdown for the UI: what the sensor does, and each watched secret with its policy."""
    names: list[str] = []
    if manifest is not None:
        names.extend(ref.name for ref in manifest.secret_references())
    if static is not None:
        names.extend(static.assets)
    lines = [
        "Re-runs the assets that use a secret when the secret is rotated. Each tick reads the "
        "secrets' versions (metadata only, one request per namespace on Kubernetes) and "
        "records them as observations of the `secrets/<name>` assets.",
    ]
    if names:
        lines += ["", "Watches (secret: `on_rotation` policy):", ""]
        lines += [f"- `{n}`: `{policy_for(n)}`" for n in dict.fromkeys(names)]
    return "\n".join(lines)


def _skip_reason(diff: VersionDiff) -> str:
    """Why a tick launched nothing: no rotation since when, or the policies said so."""
    if diff.rotations:
        names = ", ".join(r.secret for r in diff.rotations)
        return f"rotation of {names}: its on_rotation policy launches nothing"
    if diff.deleted:
        return f"deleted: {', '.join(diff.deleted)} (their assets are not re-run)"
    since = diff.cursor.since or "the baseline"
    return f"no rotation since {since} ({len(diff.cursor.versions)} secrets watched)"


def _observations(
    context: SensorEvaluationContext,
    previous: RotationCursor | None,
    cursor: RotationCursor,
    *,
    backend: str,
    namespace: str,
) -> list[AssetObservation]:
    """Observations of the ``secrets/<name>`` assets whose version is new to the cursor.

    Only assets the code location defines (with :func:`~floe_dagster_secrets.assets.secret_assets`)
    are observed, and only on a change, so the event log grows with rotations, not with ticks.
    The versions are the ones this tick already read: no request is added.
    """
    repo = context.repository_def
    if repo is None:
        return []
    defined = repo.asset_graph.get_all_asset_keys()
    before = previous.versions if previous is not None and previous.namespace == namespace else {}
    changed = {
        name: version
        for name, version in cursor.versions.items()
        if secret_asset_key(name) in defined and (name not in before or before[name] != version)
    }
    return list(observations(changed, backend=backend, namespace=namespace))


def _plugin_of(resource: object) -> SecretsPlugin:
    """The plugin of the ``FloeSecretsResource`` the sensor was given."""
    plugin = getattr(resource, "plugin", None)
    if not callable(plugin):
        raise InvalidSecretReferenceError(
            f"The sensor's secrets resource is a {type(resource).__name__}, not a "
            "FloeSecretsResource",
            fix="bind a floe secrets resource (LocalSecretsResource, K8sSecretsResource, "
            "VaultSecretsResource) under the sensor's secrets_resource_key",
        )
    return cast("SecretsPlugin", plugin())


def make_secret_rotation_sensor(
    *,
    target: Sequence[AssetsDefinition] | UnresolvedAssetJobDefinition | JobDefinition,
    namespace: str | None = None,
    name: str = "floe_secret_rotation",
    secrets_resource_key: str = "secrets",
    plugin_factory: Callable[[], SecretsPlugin] | None = None,
    manifest: Manifest | None = None,
    policies: Mapping[str, OnRotation] | None = None,
    minimum_interval_seconds: int = 60,
    default_status: DefaultSensorStatus = DefaultSensorStatus.STOPPED,
    description: str | None = None,
) -> SensorDefinition:
    """A sensor that launches the dependents of each rotated secret.

    Args:
        target: The assets to watch (their ``floe/secrets`` metadata says which secrets matter),
            or an asset job, whose selection is read from the repository at each tick.
        namespace: Namespace to read versions from. ``None``: the secrets resource's namespace
            (required with ``plugin_factory``).
        name: Sensor name shown in the UI.
        secrets_resource_key: Resource (a ``FloeSecretsResource``) that gives the plugin, used
            when ``plugin_factory`` is not given. The sensor runs in the code server, so that
            process needs the backend credentials.
        plugin_factory: Explicit plugin constructor, called once per tick (closed after it).
        manifest: Gives per-secret ``on_rotation`` policies and extra ``assets``.
        policies: Per-secret policy overrides (win over the manifest).
        minimum_interval_seconds: Seconds between ticks; each tick costs one version read.
        default_status: STOPPED by default, so deploying the code does not start it.
        description: UI description; a default names the secrets watched.

    Raises:
        InvalidSecretReferenceError: no namespace can be known (``plugin_factory`` without one).
    """
    if plugin_factory is not None and namespace is None:
        raise InvalidSecretReferenceError(
            f"Sensor {name!r} has a plugin_factory but no namespace",
            fix="pass namespace=... (the manifest's plugins.secrets.namespace)",
        )
    extra = {n: p.assets for n, p in manifest.secrets.items()} if manifest is not None else {}
    # A job (even define_asset_job's tuple-like record) has a name; a list of assets does not.
    job_name: str | None = getattr(target, "name", None)
    assets = None if job_name else list(cast("Sequence[AssetsDefinition]", target))
    static = SecretDependents.from_assets(assets, extra) if assets is not None else None
    required = set() if plugin_factory is not None else {secrets_resource_key}

    def policy_for(secret: str) -> OnRotation:
        if policies and secret in policies:
            return policies[secret]
        return manifest.secret_policy(secret).on_rotation if manifest else "rematerialize"

    def dependents_for(context: SensorEvaluationContext) -> SecretDependents:
        if static is not None:
            return static
        repo = context.repository_def
        if repo is None:
            raise InvalidSecretReferenceError(
                f"Sensor {name!r} targets job {job_name!r} but has no repository to read "
                "its assets from",
                fix="run the sensor from a code location (Definitions), or target the assets",
            )
        return job_dependents(repo.get_job(str(job_name)), extra)

    @sensor(
        name=name,
        target=assets if assets is not None else target,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status,
        required_resource_keys=required,
        description=description or default_description(manifest, policy_for, static),
    )
    def _rotation_sensor(context: SensorEvaluationContext) -> SensorResult:
        dependents = dependents_for(context)
        watched = tuple(sorted(dependents.assets))
        resource = None if plugin_factory else getattr(context.resources, secrets_resource_key)
        ns = namespace or (resource.namespace if resource is not None else "")
        plugin: SecretsPlugin | None = None
        try:
            plugin = plugin_factory() if plugin_factory else _plugin_of(resource)
            current = read_versions(plugin, ns, watched)
        except FloeSecretsError as e:
            raise tick_error(name, ns, watched, e) from e
        finally:
            if plugin is not None and plugin_factory is not None:
                plugin.close()  # ours; the resource's plugin belongs to the resource
        previous = parse_cursor(context.cursor)
        now = datetime.now(UTC).isoformat(timespec="seconds")
        diff = diff_versions(previous, namespace=ns, current=current, watched=watched, now=now)
        cursor = diff.cursor.to_json()
        backend = str(getattr(resource, "backend", None) or getattr(plugin, "name", "unknown"))
        events = _observations(context, previous, diff.cursor, backend=backend, namespace=ns)
        if diff.baseline:
            reason = f"baseline recorded for {len(watched)} secrets ({', '.join(watched)})"
            context.log.info(f"Recorded a baseline of {len(watched)} secret version(s) in {ns!r}")
            return SensorResult(cursor=cursor, asset_events=events, skip_reason=reason)
        for gone in diff.deleted:
            context.log.warning(
                f"Secret {gone!r} was deleted from {ns!r}; its assets are not re-run "
                "(they would fail without it). Recreate it to trigger a run."
            )
        requests: list[RunRequest] = []
        for rotation in diff.rotations:
            policy = policy_for(rotation.secret)
            request = run_request_for(rotation, namespace=ns, dependents=dependents, policy=policy)
            context.log.info(
                f"Secret {rotation.secret!r} in {ns!r} rotated ({rotation.previous} -> "
                f"{rotation.version}); policy {policy}: "
                + ("launching run" if request else "nothing to launch")
            )
            if request is not None:
                requests.append(request)
        if requests:
            return SensorResult(run_requests=requests, cursor=cursor, asset_events=events)
        return SensorResult(cursor=cursor, asset_events=events, skip_reason=_skip_reason(diff))

    return _rotation_sensor
