"""The one interface every secrets backend implements, and the capabilities some add.

ADR-0023 sketches ``get_secret``, ``create_secret``, ``inject_env_vars`` and
``generate_secret_mounts``. The CLI, the launcher and the rotation sensor also need to list and
describe secrets without reading their values, to change a secret (rotation), and to learn cheaply
whether a secret changed; those are :class:`SecretsPlugin`'s methods.

What only some backends can do is a small ``runtime_checkable`` protocol below. Code outside a
backend's folder asks ``isinstance(plugin, Capability)`` and never tests a backend's name or
reaches for a private attribute:

- :class:`ContributesToRunPod`: what a run's pod gets for the backend's secrets (``envFrom``
  for Kubernetes and ESO; Vault's address, role, mount and service account for Vault).
- :class:`ProvidesKubernetesClient`: the backend's secrets are Kubernetes Secrets, read with a
  client it can share (the launcher's metadata watch, ``rotate --restart-deployments``).
- :class:`ReportsSelectedVersions`: versions of just the named secrets, cheaper than a listing.
- :class:`ChecksSyncBeforeRun`: refuses secrets an operator has not freshly synced.
- :class:`ReportsSyncState`: every secret with its typed sync state (``floe secrets status``).
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from floe_dagster_secrets import audit
from floe_dagster_secrets.kube.pod_spec import (
    RunPodContribution,
    RunPodSettings,
    env_from_secret,
    env_from_secret_keys,
)
from floe_dagster_secrets.types import SecretData, SecretMetadata

if TYPE_CHECKING:
    from floe_dagster_secrets.errors import FloeSecretsError
    from floe_dagster_secrets.manifest.secrets_config import BackendConfig


class SecretsPlugin(ABC):
    """A secrets backend: Kubernetes Secrets, External Secrets Operator, Vault or the local store.

    Values come back wrapped in :class:`~floe_dagster_secrets.types.SecretValue` and are already
    registered with the masker. Every failure is a
    :class:`~floe_dagster_secrets.errors.FloeSecretsError` naming the secret, the namespace and
    this backend. Clients are created lazily, never in ``__init__`` of the module.

    Every subclass is audited without doing anything: when it is defined, its access methods
    (:data:`~floe_dagster_secrets.audit.AUDITED_METHODS`) are wrapped so each call logs one
    ``floe.audit`` event (backend, operation, namespace, name, actor, outcome; never a value).
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        audit.audit_class(cls)

    def audit_location(self, operation: str, arguments: Mapping[str, Any]) -> str | None:
        """Where the accessed secret lives, for the audit event's ``path`` (None: name only).

        A backend with its own notion of location (Vault's KV and lease paths) overrides this.
        Must not do I/O.
        """
        return None

    name: ClassVar[str]
    """The ``floe.secrets`` entry-point name, i.e. ``plugins.secrets.type`` (``k8s`` …)."""
    version: ClassVar[str]

    # --- the backend's one declaration: everything else is derived from it ------------------
    label: ClassVar[str] = ""
    """How messages name the backend (``Kubernetes Secrets``); empty: its :attr:`name`."""
    config_model: ClassVar[type[BackendConfig] | str | None] = None
    """The model of ``plugins.secrets.config`` (its ``backend_kwargs()`` are this class's
    constructor arguments), or ``"module:Class"`` naming it so that importing the plugin does not
    import pydantic (the CLI's fast paths). The manifest, its JSON Schema and the resource
    validate with it; read it through :meth:`config_class`."""
    config_required: ClassVar[bool] = False
    """Whether a manifest must write ``plugins.secrets.config`` (no usable defaults)."""
    extra: ClassVar[str | None] = None
    """The pip extra that brings the client library (``vault``), for "not installed" errors."""
    resource: ClassVar[str | None] = None
    """``module:Class`` of its Dagster resource (a string: backends never import dagster)."""
    version_source: ClassVar[str] = ""
    """What a secret's version is (``Vault KV current_version``), for the secret assets'
    descriptions; empty: "the <name> backend's version"."""
    pod_reads_kubernetes_secrets: ClassVar[bool] = True
    """Whether a run's pod reads this backend's values from Kubernetes Secrets of the secrets'
    names, so ``floe secrets rbac`` grants the job runner ``get`` on them (False for Vault: the
    pod reads Vault itself)."""
    kubernetes_rules: ClassVar[tuple[Mapping[str, Any], ...]] = ()
    """RBAC rules the rotation sensor and the launcher's pre-flight need besides listing Secrets
    (ESO: listing ExternalSecrets for their sync state)."""
    no_restart_reason: ClassVar[str] = ""
    """Why ``rotate --restart-deployments`` has nothing to restart, for a backend that neither
    gives a Kubernetes client nor syncs into Kubernetes Secrets; empty: a generic sentence."""

    @classmethod
    def config_class(cls) -> type[BackendConfig] | None:
        """:attr:`config_model`, imported when it is declared as ``"module:Class"``."""
        declared = cls.config_model
        if isinstance(declared, str):
            module, _, attribute = declared.partition(":")
            loaded: type[BackendConfig] = getattr(importlib.import_module(module), attribute)
            return loaded
        return declared

    @classmethod
    def display_name(cls) -> str:
        """:attr:`label`, or :attr:`name` when the backend declares none."""
        return cls.label or cls.name

    @abstractmethod
    def get_secret(self, name: str, namespace: str) -> SecretData:
        """Read every key of a secret."""

    @abstractmethod
    def create_secret(self, name: str, namespace: str, data: Mapping[str, str]) -> SecretMetadata:
        """Create a new secret; an existing one is an error (rotation changes secrets)."""

    @abstractmethod
    def update_secret(
        self, name: str, namespace: str, data: Mapping[str, str], *, merge: bool = False
    ) -> SecretMetadata:
        """Write a new version of an existing secret (rotation).

        With ``merge`` the given keys are changed and the others kept; without it the secret's
        contents become exactly ``data``.
        """

    @abstractmethod
    def delete_secret(self, name: str, namespace: str) -> None:
        """Delete a secret; a missing one is an error."""

    @abstractmethod
    def list_secrets(self, namespace: str) -> list[SecretMetadata]:
        """Every secret in the namespace, as metadata only: this never transfers a value."""

    @abstractmethod
    def describe_secret(self, name: str, namespace: str) -> SecretMetadata:
        """One secret's metadata (keys, type, age, version) without its values."""

    def secret_versions(self, namespace: str) -> dict[str, str]:
        """Name → version for every secret in ``namespace``, for change detection.

        Backends override this when they can answer more cheaply than a full listing.
        """
        return {meta.name: meta.version for meta in self.list_secrets(namespace)}

    def inject_env_vars(self, secret_refs: Mapping[str, str]) -> dict[str, Any]:
        """Pod-spec ``env`` entries for single keys.

        Args:
            secret_refs: Environment variable name → ``"secret-name/key"``.

        Returns:
            ``{"env": [{"name": …, "valueFrom": {"secretKeyRef": {"name": …, "key": …}}}]}``.
        """
        return env_from_secret_keys(secret_refs)

    def generate_secret_mounts(
        self, secret_name: str, *, prefix: str | None = None
    ) -> dict[str, Any]:
        """Pod-spec fragment that exposes every key of ``secret_name`` as an env var."""
        return {"envFrom": [env_from_secret(secret_name, prefix=prefix)]}

    def close(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing to close
        """Release clients and connections."""


# The base class's own default implementation is audited too (subclasses that keep it).
audit.audit_class(SecretsPlugin)


@runtime_checkable
class ContributesToRunPod(Protocol):
    """A backend that decides what a run's pod gets for the secrets it holds.

    The run launcher asks the manifest's backend (constructed from the manifest, no I/O) and
    never tests a backend's name: Kubernetes Secrets and ESO give ``envFrom`` entries and ask for
    a Kubernetes pre-flight; Vault gives its address, auth role and mount as plain env vars and
    the service account its role is bound to, and no Kubernetes Secret at all. A backend without
    this capability is treated as Kubernetes Secrets of the same names
    (:func:`~floe_dagster_secrets.kube.pod_spec.kubernetes_secrets_contribution`).
    """

    def run_pod_contribution(
        self, names: Sequence[str], settings: RunPodSettings
    ) -> RunPodContribution:
        """What the pod gets for ``names`` (secrets of this backend); pure, no I/O, no value.

        Called with every run, also with no names (a backend may still need to tell the pod
        where it is), and from ``get_container_context_for_run``, which must stay pure.
        """
        ...


@runtime_checkable
class ProvidesKubernetesClient(Protocol):
    """A backend whose secrets are a namespace's Kubernetes Secrets, read with a shareable client.

    The run launcher's pre-flight watches those Secrets with the backend's own client (same
    credentials, same RBAC) instead of reaching for a private attribute. (ESO's listing is of
    ExternalSecrets, so it does not claim this.)
    """

    def kubernetes_api_client(self) -> Any:
        """The backend's ``ApiClient``, created on first call (not at construction)."""
        ...


@runtime_checkable
class ReportsSelectedVersions(Protocol):
    """A backend that reads the versions of just the named secrets more cheaply than a listing.

    The rotation sensor asks for exactly the watched names (Vault: one KV ``metadata`` GET per
    referenced path, which the least-privilege policy grants, where a listing would need
    ``list`` on the folder). Without it the sensor uses ``secret_versions`` of the namespace.
    """

    def secret_versions_of(self, names: list[str], namespace: str) -> dict[str, str]:
        """Name → version for those of ``names`` that exist (a missing one is absent)."""
        ...


@runtime_checkable
class ChecksSyncBeforeRun(Protocol):
    """A backend that can tell whether secrets an operator copies from a store are fresh.

    A Secret the External Secrets Operator synced once and then failed to refresh still
    exists with its keys, so an existence check passes it and a run would use a value the store
    no longer holds. The run launcher's pre-flight asks this of its backend after finding the
    secrets; a run starts only when the answer is empty.
    """

    def unsynced(
        self, namespace: str, found: Mapping[str, SecretMetadata]
    ) -> list[FloeSecretsError]:
        """One error per secret of ``found`` whose sync is not Ready or is stale; no value read.

        May read the operator's objects, but only when a secret of ``found`` was synced by one
        (a cluster without the operator costs nothing).
        """
        ...


@runtime_checkable
class ReportsSyncState(Protocol):
    """A backend whose secrets are copies an operator keeps in sync with an external store.

    ``floe secrets status`` shows its sync table (store, sync status, last sync) instead of
    versions; each listed :class:`~floe_dagster_secrets.types.SecretMetadata` carries ``sync``.
    """

    def sync_states(self, namespace: str) -> list[SecretMetadata]:
        """Every secret in ``namespace`` with its ``sync`` state set, sorted by name."""
        ...
