"""The public API is what `floe_dagster_secrets` re-exports, and importing it stays cheap."""

from __future__ import annotations

import subprocess
import sys
import types

import floe_dagster_secrets

EAGER = {
    "SecretsPlugin",
    "FloeSecretsError",
    "SecretNotFoundError",
    "SecretAccessDeniedError",
    "BackendUnavailableError",
    "BackendNotInstalledError",
    "InvalidSecretReferenceError",
    "InvalidSecretValueError",
    "InvalidManifestError",
    "SecretAlreadyExistsError",
    "SecretConflictError",
    "SecretValue",
    "SecretData",
    "SecretMetadata",
    "get_masker",
    "install_masker",
    "redact",
}
LAZY = {
    "K8sSecretsPlugin",
    "LocalSecretsPlugin",
    "VaultSecretsPlugin",
    "FloeK8sRunLauncher",
    "floe_k8s_job_executor",
    "VaultSecretsResource",
    "load_backend_class",
    "Manifest",
    "load_manifest",
    "FloeSecretsResource",
    "K8sSecretsResource",
    "LocalSecretsResource",
    "FloeSecretsLoader",
}


def test_exported_names_are_pinned() -> None:
    # Submodules become package attributes once anything imports them; they are not exports.
    public = {
        name
        for name in dir(floe_dagster_secrets)
        if not name.startswith("_")
        and not isinstance(getattr(floe_dagster_secrets, name), types.ModuleType)
    }
    module_level_helpers = {"annotations", "TYPE_CHECKING", "Any"}
    assert public - module_level_helpers == EAGER | LAZY


def test_every_lazy_name_resolves() -> None:
    for name in sorted(LAZY):
        assert getattr(floe_dagster_secrets, name).__name__ == name


def test_import_loads_no_heavy_client() -> None:
    code = (
        "import sys, floe_dagster_secrets; "
        "heavy = [m for m in ('dagster', 'kubernetes', 'hvac', 'dbt', 'pydantic', 'duckdb') "
        "if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
