"""floe-dagster-secrets: the floe secrets layer (ADR-0023) for Dagster on Kubernetes.

The light core — errors, value types, the masker and the plugin interface — is imported eagerly.
Everything that pulls in a heavy client (dagster, kubernetes, hvac, pydantic models) is exported
lazily, so ``import floe_dagster_secrets`` stays cheap for the CLI and for code servers.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from floe_dagster_secrets.backends.base import SecretsPlugin as SecretsPlugin
from floe_dagster_secrets.errors import BackendNotInstalledError as BackendNotInstalledError
from floe_dagster_secrets.errors import BackendUnavailableError as BackendUnavailableError
from floe_dagster_secrets.errors import FloeSecretsError as FloeSecretsError
from floe_dagster_secrets.errors import InvalidManifestError as InvalidManifestError
from floe_dagster_secrets.errors import InvalidSecretReferenceError as InvalidSecretReferenceError
from floe_dagster_secrets.errors import InvalidSecretValueError as InvalidSecretValueError
from floe_dagster_secrets.errors import SecretAccessDeniedError as SecretAccessDeniedError
from floe_dagster_secrets.errors import SecretAlreadyExistsError as SecretAlreadyExistsError
from floe_dagster_secrets.errors import SecretConflictError as SecretConflictError
from floe_dagster_secrets.errors import SecretNotFoundError as SecretNotFoundError
from floe_dagster_secrets.masking import get_masker as get_masker
from floe_dagster_secrets.masking import install_masker as install_masker
from floe_dagster_secrets.masking import redact as redact
from floe_dagster_secrets.types import SecretData as SecretData
from floe_dagster_secrets.types import SecretMetadata as SecretMetadata
from floe_dagster_secrets.types import SecretValue as SecretValue

if TYPE_CHECKING:
    from floe_dagster_secrets.backends.kubernetes import K8sSecretsPlugin as K8sSecretsPlugin
    from floe_dagster_secrets.backends.local import LocalSecretsPlugin as LocalSecretsPlugin
    from floe_dagster_secrets.backends.registry import load_backend_class as load_backend_class
    from floe_dagster_secrets.backends.vault import VaultSecretsPlugin as VaultSecretsPlugin
    from floe_dagster_secrets.launcher import FloeK8sRunLauncher as FloeK8sRunLauncher
    from floe_dagster_secrets.launcher import floe_k8s_job_executor as floe_k8s_job_executor
    from floe_dagster_secrets.manifest import Manifest as Manifest
    from floe_dagster_secrets.manifest import load_manifest as load_manifest
    from floe_dagster_secrets.resources.base import FloeSecretsResource as FloeSecretsResource
    from floe_dagster_secrets.resources.kubernetes import K8sSecretsResource as K8sSecretsResource
    from floe_dagster_secrets.resources.local import LocalSecretsResource as LocalSecretsResource
    from floe_dagster_secrets.resources.vault import VaultSecretsResource as VaultSecretsResource
    from floe_dagster_secrets.secrets_loader import FloeSecretsLoader as FloeSecretsLoader

_LAZY_EXPORTS = {
    "K8sSecretsPlugin": "floe_dagster_secrets.backends.kubernetes",
    "LocalSecretsPlugin": "floe_dagster_secrets.backends.local",
    "load_backend_class": "floe_dagster_secrets.backends.registry",
    "VaultSecretsPlugin": "floe_dagster_secrets.backends.vault",
    "FloeK8sRunLauncher": "floe_dagster_secrets.launcher",
    "floe_k8s_job_executor": "floe_dagster_secrets.launcher",
    "Manifest": "floe_dagster_secrets.manifest",
    "load_manifest": "floe_dagster_secrets.manifest",
    "FloeSecretsResource": "floe_dagster_secrets.resources.base",
    "K8sSecretsResource": "floe_dagster_secrets.resources.kubernetes",
    "LocalSecretsResource": "floe_dagster_secrets.resources.local",
    "VaultSecretsResource": "floe_dagster_secrets.resources.vault",
    "FloeSecretsLoader": "floe_dagster_secrets.secrets_loader",
}

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    module = _LAZY_EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'floe_dagster_secrets' has no attribute '{name}'")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY_EXPORTS))
