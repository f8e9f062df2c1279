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
from floe_dagster_secrets.backends.eso.plugin import ESOSecretsPlugin as ESOSecretsPlugin
from floe_dagster_secrets.backends.eso.preflight import unsynced_targets as unsynced_targets

__all__ = ["AppliedObject", "ESOSecretsPlugin", "apply_objects", "unsynced_targets"]
