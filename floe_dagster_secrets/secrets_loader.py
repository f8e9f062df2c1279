"""An instance-level Dagster ``SecretsLoader`` backed by a floe secrets backend.

Dagster calls ``get_secrets_for_environment(location_name)`` when a code server, a run worker or
a step worker starts, and puts the result into ``os.environ``. Sensors and schedules run in the
code server, so this is how they get credentials without any value in ``dagster.yaml``:

.. code-block:: yaml

    # dagster.yaml
    secrets:
      custom:
        module: floe_dagster_secrets.secrets_loader
        class: FloeSecretsLoader
        config:
          backend: local                  # or k8s
          backend_config:                 # the plugin's constructor kwargs: references only
            path: /srv/floe/secrets       # (k8s: kubeconfig, context, in_cluster)
          namespace: floe-jobs
          secrets: [duckdb-dev-credentials]
          prefix: DBT_ENV_SECRET_         # optional, like envFrom's prefix
          locations: [floe_demo]          # optional: only these code locations

The config is stored in the instance ref that Dagster serialises into run workers (and, with
dagster-k8s, into Job pod args), which is why it may only name secrets, never hold them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Self

from dagster import Array, Field, Noneable, Permissive, StringSource

from floe_dagster_secrets._dagster_internals import (
    ConfigurableClass,
    ConfigurableClassData,
    SecretsLoader,
)
from floe_dagster_secrets.backends.base import SecretsPlugin
from floe_dagster_secrets.backends.registry import load_backend_class
from floe_dagster_secrets.masking import install_masker
from floe_dagster_secrets.resources.env import merged_env

DEFAULT_NAMESPACE = "floe-jobs"


class FloeSecretsLoader(SecretsLoader, ConfigurableClass):
    """Load environment variables for code servers and runs from a floe secrets backend.

    Every key of every listed secret becomes ``<prefix><KEY>``, exactly what ``envFrom`` with
    that prefix would give a pod, so code that works in a Job pod works under ``dagster dev``.
    Any backend error (missing secret, access denied) is raised as is: the code server then
    fails to load with that message rather than starting without credentials.
    """

    def __init__(
        self,
        inst_data: ConfigurableClassData | None = None,
        *,
        backend: str = "local",
        backend_config: Mapping[str, Any] | None = None,
        namespace: str = DEFAULT_NAMESPACE,
        secrets: Sequence[str] = (),
        prefix: str | None = None,
        locations: Sequence[str] | None = None,
    ) -> None:
        self._inst_data = inst_data
        self.backend = backend
        self.backend_config = dict(backend_config or {})
        self.namespace = namespace
        self.secrets = tuple(secrets)
        self.prefix = prefix
        self.locations = tuple(locations) if locations is not None else None
        self._plugin: SecretsPlugin | None = None

    @property
    def inst_data(self) -> ConfigurableClassData | None:
        """The config this loader was built from, as Dagster stores it in the instance ref."""
        return self._inst_data

    @classmethod
    def config_type(cls) -> dict[str, Field]:
        """The ``config:`` schema under ``secrets: custom:`` in ``dagster.yaml``."""
        return {
            "backend": Field(
                StringSource, default_value="local", description="Backend name (local, k8s …)."
            ),
            "backend_config": Field(
                Permissive(),  # type: ignore[no-untyped-call]
                default_value={},
                description="The backend plugin's constructor kwargs: paths and names only.",
            ),
            "namespace": Field(StringSource, default_value=DEFAULT_NAMESPACE),
            "secrets": Field(Array(str), default_value=[], description="Secret names to load."),
            "prefix": Field(Noneable(str), default_value=None),
            "locations": Field(
                Noneable(Array(str)),
                default_value=None,
                description="Code locations to load secrets for; unset means all.",
            ),
        }

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]
    ) -> Self:
        """Build the loader from ``dagster.yaml``."""
        return cls(inst_data=inst_data, **config_value)

    def _get_plugin(self) -> SecretsPlugin:
        if self._plugin is None:
            self._plugin = load_backend_class(self.backend)(**self.backend_config)
        return self._plugin

    def get_secrets_for_environment(self, location_name: str | None) -> dict[str, str]:
        """Variables for ``location_name``: the listed secrets, or nothing for other locations."""
        if self.locations is not None and location_name not in self.locations:
            return {}
        if not self.secrets:
            return {}
        install_masker()
        return merged_env(
            self._get_plugin(), self.secrets, namespace=self.namespace, prefix=self.prefix
        )

    def dispose(self) -> None:
        """Close the backend's clients when the instance is disposed."""
        if self._plugin is not None:
            self._plugin.close()
            self._plugin = None
