"""The Dagster edge of the secrets layer: a resource that holds references, never values.

A literal given to a ``ConfigurableResource`` field becomes the default of its config schema, so
it is shown by the UI and GraphQL and stored in every job snapshot. The resources here therefore
take only *where* to look (a store path, a kubeconfig path, a namespace) and fetch values in the
process that executes the step, when an op asks for them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from dagster import ConfigurableResource, InitResourceContext
from pydantic import Field, PrivateAttr

from floe_dagster_secrets import audit
from floe_dagster_secrets.backends.base import SecretsPlugin
from floe_dagster_secrets.backends.registry import load_backend_class
from floe_dagster_secrets.masking import install_masker
from floe_dagster_secrets.resources.env import merged_env, require_keys
from floe_dagster_secrets.types import SecretData

if TYPE_CHECKING:
    from floe_dagster_secrets.manifest import Manifest

DEFAULT_NAMESPACE = "floe-jobs"


class FloeSecretsResource(ConfigurableResource):  # type: ignore[type-arg]
    """Base of the backend resources: fetch secrets at run time from one configured backend.

    Subclasses name their backend in :attr:`backend` and turn their own fields (references only)
    into the plugin's constructor keyword arguments in :meth:`backend_kwargs`. The plugin is made
    lazily, in ``setup_for_execution`` or on first use, so loading a code location never touches
    the backend.
    """

    backend: ClassVar[str]

    namespace: str = Field(
        default=DEFAULT_NAMESPACE,
        description=(
            "Namespace the secrets live in (Kubernetes namespace, or the local store's "
            "subdirectory). Matches plugins.secrets.namespace in manifest.yaml."
        ),
    )

    _plugin: SecretsPlugin | None = PrivateAttr(default=None)
    _run_actor: str | None = PrivateAttr(default=None)

    def backend_kwargs(self) -> dict[str, Any]:
        """Constructor keyword arguments for this backend's plugin, built from the fields."""
        raise NotImplementedError(f"{type(self).__name__} must implement backend_kwargs()")

    def setup_for_execution(self, context: InitResourceContext) -> None:
        """Install the log masker and the run-log access events, then create the plugin.

        The access events (an ``AssetObservation`` of ``secrets/<name>`` per fetch in a step)
        are installed here too, so a code location that uses only this resource, and never
        imports :mod:`floe_dagster_secrets.assets`, still records them (idempotent).
        """
        install_masker()
        # imported here: floe_dagster_secrets.assets imports this module (secret lineage)
        from floe_dagster_secrets.assets.access_events import install_run_log_events

        install_run_log_events()
        run = context.run  # None when the resource is built outside a run
        self._run_actor = f"dagster-run:{run.run_id}" if run is not None else None
        self.plugin()

    @contextlib.contextmanager
    def acting_for_run(self) -> Iterator[None]:
        """Attribute the accesses inside to this run in the audit trail (``dagster-run:<id>``).

        Dagster sets no run-id variable in an in-process run, so without this the audit events
        would name only ``user@host``.
        """
        if self._run_actor is None:
            yield
            return
        with audit.acting_as(self._run_actor):
            yield

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        """Close the plugin's clients at the end of the step."""
        if self._plugin is not None:
            self._plugin.close()
            self._plugin = None

    def plugin(self) -> SecretsPlugin:
        """The backend plugin, created on first use from :meth:`backend_kwargs`."""
        if self._plugin is None:
            plugin_class = load_backend_class(self.backend)
            self._plugin = plugin_class(**self.backend_kwargs())
        return self._plugin

    def get_secret(self, name: str) -> SecretData:
        """Every key of one secret, wrapped and already registered with the masker.

        Raises:
            FloeSecretsError: the backend's error (not found, access denied, unavailable …),
                naming the secret, namespace and backend.
        """
        install_masker()
        with self.acting_for_run():
            return self.plugin().get_secret(name, self.namespace)

    def env_for(self, secret_names: Iterable[str], *, prefix: str | None = None) -> dict[str, str]:
        """The environment ``envFrom`` would give a pod for these secrets, optionally prefixed.

        This reveals values: hand the result to a subprocess (``subprocess.run(env=…)``), never
        to a log, a tag, run config or metadata. Later secrets win when two share a key.
        """
        install_masker()
        with self.acting_for_run():
            return merged_env(self.plugin(), secret_names, namespace=self.namespace, prefix=prefix)

    def dbt_env(self, manifest: Manifest) -> dict[str, str]:
        """``DBT_ENV_SECRET_<KEY>`` variables for the manifest's compute connection secret.

        The generated ``profiles.yml`` reads ``env_var('DBT_ENV_SECRET_<KEY>')``, and dbt scrubs
        the values of such variables from its logs. The secret must hold every key the compute
        type needs and every key its ``secrets:`` policy lists; a missing one fails here, naming
        it, instead of deep inside dbt.

        Returns:
            An empty dict when the manifest names no connection secret.
        """
        # Imported here: the dbt helpers are only needed by code locations that run dbt.
        from floe_dagster_secrets.dbt import profile_env, required_secret_keys

        compute = manifest.plugins.compute
        if compute is None:
            return {}
        name = compute.connection_secret_ref
        data = self.get_secret(name)
        policy = (manifest.secrets or {}).get(name)
        required = dict.fromkeys(
            [
                *required_secret_keys(compute.type, settings=compute.config),
                *(policy.keys if policy else []),
            ]
        )
        require_keys(
            data,
            list(required),
            secret=name,
            namespace=self.namespace,
            backend=self.backend,
            purpose=f"the {compute.type} connection",
        )
        return profile_env(compute.type, data, settings=compute.config, secret_name=name)
