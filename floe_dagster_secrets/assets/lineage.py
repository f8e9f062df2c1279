"""Secrets in the lineage graph: one observable asset per secret, upstream of its users.

Each secret the manifest references becomes the asset ``secrets/<name>``
(:func:`secret_asset_specs`), an *observable* external asset: Dagster never materializes it, it
only records observations whose data version is the backend's version of the secret (Kubernetes
``resourceVersion``, Vault KV ``current_version``, the version of the Secret ESO synced, the
local store's counter). Observations hold metadata only — never a value, never a key's content.

The edges come from the same place the launcher and the rotation sensor read: an asset's
``floe/secrets`` metadata plus the manifest's ``secrets.<name>.assets``. :func:`secret_lineage`
turns those names into ``deps`` on the secret assets and one ``floe/secret.<name>`` tag per
secret (:mod:`floe_dagster_secrets.assets.keys`), so the graph shows ``secrets/<name>`` upstream
of exactly the assets that use it and the catalog filters by secret.

Observation costs what a rotation sensor tick costs: one version read
(:func:`~floe_dagster_secrets.sensors.versions.read_versions`, a metadata-only LIST per
namespace on Kubernetes). The rotation sensor reports the same observations from the read it
already makes, so watching the graph adds no request.
"""

import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence

import dagster as dg

from floe_dagster_secrets.asset_metadata import secrets_from_metadata, secrets_metadata
from floe_dagster_secrets.assets.keys import SECRET_GROUP, secret_asset_path, secret_tags
from floe_dagster_secrets.assets.observations import (
    DATA_VERSION_TAG,
    observations,
    secret_asset_key,
)
from floe_dagster_secrets.backends.registry import load_backend_class
from floe_dagster_secrets.errors import BackendNotInstalledError
from floe_dagster_secrets.manifest import Manifest
from floe_dagster_secrets.resources.base import FloeSecretsResource

OBSERVE_OP_NAME = "floe_secret_assets"


def manifest_secret_names(manifest: Manifest) -> list[str]:
    """Every secret the manifest references, once, in the manifest's order."""
    return [ref.name for ref in manifest.secret_references()]


def secret_lineage(spec: dg.AssetSpec, extra: Iterable[str] = ()) -> dg.AssetSpec:
    """``spec`` with its secrets as upstream deps, a tag per secret, and ``floe/secrets`` metadata.

    Args:
        spec: An asset spec; the names in its ``floe/secrets`` metadata are kept.
        extra: More secret names the asset uses (the manifest's ``secrets.<name>.assets``).
    """
    names = list(dict.fromkeys([*secrets_from_metadata(spec.metadata or {}), *extra]))
    if not names:
        return spec
    known = {dep.asset_key for dep in spec.deps}
    deps = [secret_asset_key(n) for n in names if secret_asset_key(n) not in known]
    merged = spec.merge_attributes(deps=deps, tags=secret_tags(names))
    return merged.replace_attributes(metadata={**(spec.metadata or {}), **secrets_metadata(names)})


def _extra_by_asset(manifest: Manifest | None) -> dict[dg.AssetKey, list[str]]:
    by_asset: dict[dg.AssetKey, list[str]] = {}
    for name, policy in (manifest.secrets if manifest is not None else {}).items():
        for key in policy.assets:
            by_asset.setdefault(dg.AssetKey.from_user_string(key), []).append(name)
    return by_asset


def with_secret_lineage(
    assets_defs: Iterable[dg.AssetsDefinition], manifest: Manifest | None = None
) -> list[dg.AssetsDefinition]:
    """``assets_defs`` with :func:`secret_lineage` applied to every spec.

    The secrets of an asset are those of its ``floe/secrets`` metadata plus, with ``manifest``,
    the policies whose ``assets`` name it.
    """
    extra = _extra_by_asset(manifest)
    return [
        assets_def.map_asset_specs(lambda spec: secret_lineage(spec, extra.get(spec.key, ())))
        for assets_def in assets_defs
    ]


def _version_source(backend: str) -> str:
    """What the backend's version of a secret is, as its plugin class declares it."""
    try:
        declared = load_backend_class(backend).version_source
    except BackendNotInstalledError:  # the manifest was built without validating its type
        declared = ""
    return declared or f"the {backend} backend's version"


def _description(manifest: Manifest, name: str, users: int | None) -> str:
    backend = manifest.plugins.secrets.type
    policy = manifest.secret_policy(name)
    source = _version_source(backend)
    lines = [
        f"Secret `{name}` in the `{backend}` backend, namespace "
        f"`{manifest.plugins.secrets.namespace}`.",
        "",
        f"Observed from metadata only: its data version is {source}. Its value is never read "
        "to observe it, and never recorded.",
        "",
        f"- on rotation: `{policy.on_rotation}`",
        f"- max age: {policy.max_age_days} days" if policy.max_age_days else "- max age: not set",
    ]
    if policy.keys:
        lines.append(f"- keys: {', '.join(f'`{k}`' for k in policy.keys)}")
    if users is not None:
        lines.append(f"- used by {users} asset(s) (its downstream in the graph)")
    return "\n".join(lines)


def secret_asset_specs(
    manifest: Manifest,
    *,
    names: Sequence[str] | None = None,
    users: Mapping[str, int] | None = None,
) -> list[dg.AssetSpec]:
    """One spec per secret: key ``secrets/<name>``, group ``floe_secrets``, kind = backend.

    Args:
        manifest: Gives the backend, namespace and each secret's policy.
        names: Secrets to model (default: every secret the manifest references).
        users: Secret → number of dependent assets, for the description.
    """
    backend = manifest.plugins.secrets.type
    specs = []
    for name in names if names is not None else manifest_secret_names(manifest):
        policy = manifest.secret_policy(name)
        metadata: dict[str, object] = {
            "floe/backend": backend,
            "floe/namespace": manifest.plugins.secrets.namespace,
            "floe/on_rotation": policy.on_rotation,
        }
        if policy.max_age_days is not None:
            metadata["floe/max_age_days"] = policy.max_age_days
        specs.append(
            dg.AssetSpec(
                secret_asset_key(name),
                description=_description(manifest, name, (users or {}).get(name)),
                group_name=SECRET_GROUP,
                kinds={backend},
                metadata=metadata,
            )
        )
    return specs


def secret_assets(
    manifest: Manifest,
    *,
    assets: Iterable[dg.AssetsDefinition] = (),
    resource_key: str = "secrets",
    name: str = OBSERVE_OP_NAME,
) -> dg.AssetsDefinition:
    """The secrets of ``manifest`` as observable assets ("Observe" in the UI runs one version read).

    Args:
        manifest: Secrets to model, with backend, namespace and policies.
        assets: The assets that use them (with :func:`with_secret_lineage` applied), only to say
            in each description how many assets a secret feeds.
        resource_key: The :class:`FloeSecretsResource` whose backend is read.
        name: Op name of the observation.
    """
    names = manifest_secret_names(manifest)
    users: dict[str, int] = {}
    for assets_def in assets:
        for spec in assets_def.specs:
            for dep in spec.deps:
                path = dep.asset_key.path
                if len(path) == 2 and path[0] == secret_asset_path("")[0]:
                    users[path[1]] = users.get(path[1], 0) + 1
    specs = secret_asset_specs(manifest, names=names, users=users)

    def _observe(context: dg.AssetExecutionContext) -> Iterator[dg.ObserveResult]:
        # Imported here: the sensors package imports this package's observations.
        from floe_dagster_secrets.sensors.versions import read_versions

        resource: FloeSecretsResource = getattr(context.resources, resource_key)
        current = read_versions(resource.plugin(), resource.namespace, names)
        for event in observations(
            {n: current.get(n) for n in names},
            backend=resource.backend,
            namespace=resource.namespace,
        ):
            version = event.tags.get(DATA_VERSION_TAG)
            yield dg.ObserveResult(
                asset_key=event.asset_key,
                metadata=dict(event.metadata),
                data_version=dg.DataVersion(version) if version else None,
            )

    # Beta in dagster 1.13 (a warning, an error under pytest's filterwarnings=error); the
    # decorator is the documented way to observe several external assets with one function.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)
        observable: dg.AssetsDefinition = dg.multi_observable_source_asset(
            specs=specs,
            name=name,
            required_resource_keys={resource_key},
            description="Read the secrets' versions (metadata only, one request per namespace).",
        )(_observe)
    return observable
