"""What ``floe secrets rotate`` says per backend, and where ``--restart-deployments`` applies.

ADR-0023's rotate output names the store the value went to and, under ESO, the sync::

    Rotating secret: snowflake-credentials
    ✓ Secret updated in AWS Secrets Manager
    ✓ ExternalSecret sync triggered
    ✓ Restarting deployments: dagster-daemon
    Rotation complete.

Restarts (step 3 of its static rotation workflow) make sense wherever the rotated value lands in
a Kubernetes Secret that pods read through ``envFrom``: the ``k8s`` backend, and ESO, whose
synced Secrets are ordinary Secrets. They are refused, with the reason, where it does not: Vault
values never land in a Secret (each run reads Vault when it starts: "unless using Vault"), and
the local store is files on this machine that no workload reads.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from floe_dagster_secrets.backends.base import ProvidesKubernetesClient, SecretsPlugin
from floe_dagster_secrets.errors import InvalidManifestError

if TYPE_CHECKING:
    from floe_dagster_secrets.manifest import Manifest
    from floe_dagster_secrets.types import SecretMetadata

SYNC_TRIGGERED = "✓ ExternalSecret sync triggered"


@runtime_checkable
class SyncsIntoKubernetesSecrets(Protocol):
    """A backend whose values an operator copies into Kubernetes Secrets (ESO).

    Its Secrets are ordinary ones, read by pods through ``envFrom``, so their consumers can be
    restarted through :meth:`secrets_api_client`, the cluster client those Secrets live in.
    """

    def secrets_api_client(self) -> Any:
        """The ``ApiClient`` of the cluster the synced Secrets live in."""
        ...

    def source_label(self) -> str:
        """How the ADR names the store values are copied from (``AWS Secrets Manager``)."""
        ...


def restart_client(plugin: SecretsPlugin) -> Callable[[], Any] | None:
    """How to reach the cluster holding the rotated Secret, or None where no Secret holds it."""
    if isinstance(plugin, ProvidesKubernetesClient):
        return plugin.kubernetes_api_client
    if isinstance(plugin, SyncsIntoKubernetesSecrets):
        return plugin.secrets_api_client
    return None


def restart_refusal(plugin: SecretsPlugin) -> str | None:
    """Why ``--restart-deployments`` does not apply to ``plugin``; None when it does."""
    if restart_client(plugin) is not None:
        return None
    why = (
        plugin.no_restart_reason
        or f"the '{plugin.name}' backend does not write its values into Kubernetes Secrets"
    )
    return (
        f"--restart-deployments restarts the workloads that read a rotated Kubernetes Secret "
        f"(backends k8s and external-secrets), but {why}. Rotate without it."
    )


def updated_line(plugin: SecretsPlugin, meta: SecretMetadata, *, label: str) -> str:
    """``✓ Secret updated in <where the value went> (version N)``.

    Under ESO that is the store behind the ClusterSecretStore (``Vault``, ``AWS Secrets
    Manager`` …), as the ADR writes it; else ``label``, the backend's own name.
    """
    if isinstance(plugin, SyncsIntoKubernetesSecrets):
        label = plugin.source_label()
    return f"✓ Secret updated in {label} (version {meta.version})"


def after_update_lines(plugin: SecretsPlugin) -> list[str]:
    """The lines that follow the update: ESO's forced sync (done and waited for by then)."""
    return [SYNC_TRIGGERED] if isinstance(plugin, SyncsIntoKubernetesSecrets) else []


def check_rotatable(
    plugin: SecretsPlugin, manifest: Callable[[], Manifest | None], name: str
) -> None:
    """Refuse to rotate under ESO a secret whose manifest maps it to its own remote key.

    floe writes a rotated value at the default layout (``{prefix}{namespace}/{name}``, property
    = env key); an ExternalSecret rendered from ``secrets.<name>.remote`` reads elsewhere, so the
    rotation would report success while ESO kept syncing the old value.

    Raises:
        InvalidManifestError: ``secrets.<name>.remote`` is set and the backend is ESO.
    """
    if not isinstance(plugin, SyncsIntoKubernetesSecrets):
        return  # the manifest is not even loaded (the local store's fast path)
    loaded = manifest()
    remote = loaded.secret_policy(name).remote if loaded is not None else None
    if remote is None:
        return
    raise InvalidManifestError(
        f"secret '{name}' is mapped to the remote key '{remote.key}' (secrets.{name}.remote), "
        "which floe does not write: rotating it here would leave ESO syncing the old value",
        fix=f"write the new value at '{remote.key}' with the store's own tool; ESO syncs it at "
        f"its next refresh, or at once after `kubectl annotate externalsecret {name} "
        "force-sync=$(date +%s) --overwrite`",
        secret=name,
        path=f"secrets.{name}.remote",
    )
