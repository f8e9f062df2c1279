"""The External Secrets Operator backend (``type: external-secrets``).

Public surface: :class:`ESOSecretsPlugin` (the ``floe.secrets`` entry point
``external-secrets``). Inside this folder: ``plugin.py`` (the backend), ``api.py`` (ESO's custom
resources over the shared Kubernetes call), ``objects.py`` (ExternalSecret bodies and their sync
state), ``stores.py`` (SecretStore / ClusterSecretStore bodies), ``sync.py`` (waiting for a
sync), ``render.py`` / ``apply.py`` (ExternalSecrets with any remote mapping, applied where
they differ from the live ones) and ``preflight.py`` (refusing a run whose secrets are not
synced; ``unsynced_targets`` is what the Kubernetes backend answers for the Secrets ESO
wrote). Code outside this folder imports only what this ``__init__`` exports.
"""

from floe_dagster_secrets.backends.eso.apply import AppliedObject as AppliedObject
from floe_dagster_secrets.backends.eso.apply import apply_objects as apply_objects
from floe_dagster_secrets.backends.eso.objects import KeyRef as KeyRef
from floe_dagster_secrets.backends.eso.objects import (
    external_secret_from_refs as external_secret_from_refs,
)
from floe_dagster_secrets.backends.eso.objects import remote_key as remote_key
from floe_dagster_secrets.backends.eso.plugin import ESOSecretsPlugin as ESOSecretsPlugin
from floe_dagster_secrets.backends.eso.preflight import unsynced_targets as unsynced_targets
from floe_dagster_secrets.backends.eso.render import infer_provider as infer_provider
from floe_dagster_secrets.backends.eso.render import to_yaml as to_yaml
from floe_dagster_secrets.backends.eso.stores import StoreSettings as StoreSettings
from floe_dagster_secrets.backends.eso.stores import (
    cluster_secret_store_body as cluster_secret_store_body,
)

__all__ = [
    "AppliedObject",
    "ESOSecretsPlugin",
    "KeyRef",
    "StoreSettings",
    "apply_objects",
    "cluster_secret_store_body",
    "external_secret_from_refs",
    "infer_provider",
    "remote_key",
    "to_yaml",
    "unsynced_targets",
]
