"""The least-privilege Vault policy and Kubernetes auth role for a manifest's runs.

Pure functions: a manifest (and the database roles its runs use) in, text and payloads out. What
they grant, and nothing more:

- ``read`` on exactly the KV v2 data path of every secret the manifest references
  (``{kv_mount}/data/{secret_path_prefix}{namespace}/{name}``) — no wildcard, no ``list``;
- ``read`` on ``<database mount>/creds/<role>`` for each database role the runs use, and
  ``update`` on renewing and revoking *those roles'* leases only
  (``sys/leases/renew|revoke/<mount>/creds/<role>/*``);
- optionally ``read`` on the KV metadata paths, for the identity that runs the rotation sensor
  (it compares ``current_version`` and never needs the data).

Token self-renewal and lookup come from Vault's ``default`` policy, which the auth role keeps.
The Kubernetes auth role binds the run pods' service account (``floe-job-runner``) in the
manifest's namespace; its ``token_max_ttl`` must outlast the longest run, because a run's
database lease dies with the token that created it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from floe_dagster_secrets.errors import InvalidManifestError
from floe_dagster_secrets.manifest.secrets_config import VaultSecretsConfig

if TYPE_CHECKING:
    from floe_dagster_secrets.manifest import Manifest

RUN_SERVICE_ACCOUNT = "floe-job-runner"
"""The service account floe's run pods use (set by the run launcher)."""


def vault_config(manifest: Manifest) -> VaultSecretsConfig:
    """The manifest's Vault settings; an error if its secrets backend is not Vault."""
    config = manifest.plugins.secrets.config
    if manifest.plugins.secrets.type != "vault" or not isinstance(config, VaultSecretsConfig):
        raise InvalidManifestError(
            f"plugins.secrets.type is '{manifest.plugins.secrets.type}', not 'vault', so there "
            "is no Vault policy to generate",
            fix="set plugins.secrets.type: vault with its config (address, auth_method, role …)",
            backend="vault",
            path="plugins.secrets",
        )
    return config


def kv_paths(manifest: Manifest, *, kind: str = "data") -> list[str]:
    """The KV v2 API path (``data`` or ``metadata``) of every referenced secret, in order."""
    config = vault_config(manifest)
    namespace = manifest.plugins.secrets.namespace
    return [
        f"{config.kv_mount}/{kind}/{config.secret_path_prefix}{namespace}/{ref.name}"
        for ref in manifest.secret_references()
    ]


def _stanza(path: str, capabilities: Sequence[str]) -> str:
    caps = ", ".join(json.dumps(c) for c in capabilities)
    return f"path {json.dumps(path)} {{\n  capabilities = [{caps}]\n}}\n"


def vault_policy(
    manifest: Manifest,
    *,
    database_roles: Sequence[str] = (),
    database_mount: str = "database",
    include_metadata: bool = False,
) -> str:
    """The policy (HCL) a run needs: its secrets and database roles, nothing else.

    Args:
        manifest: The loaded manifest (``plugins.secrets.type: vault``).
        database_roles: Database secrets engine roles the runs take credentials from.
        database_mount: Mount path of the database secrets engine.
        include_metadata: Also grant ``read`` on the secrets' KV metadata (rotation sensor).
    """
    mount = database_mount.strip("/")
    parts = [
        f"# floe runs of environment '{manifest.environment}', namespace "
        f"'{manifest.plugins.secrets.namespace}': generated, least privilege.\n"
    ]
    parts += [_stanza(path, ["read"]) for path in kv_paths(manifest)]
    if include_metadata:
        parts += [_stanza(path, ["read"]) for path in kv_paths(manifest, kind="metadata")]
    for role in dict.fromkeys(database_roles):
        parts.append(_stanza(f"{mount}/creds/{role}", ["read"]))
        parts.append(_stanza(f"sys/leases/renew/{mount}/creds/{role}/*", ["update"]))
        parts.append(_stanza(f"sys/leases/revoke/{mount}/creds/{role}/*", ["update"]))
    return "\n".join(parts)


def policy_payload(hcl: str) -> dict[str, str]:
    """Body of ``PUT sys/policies/acl/<name>``."""
    return {"policy": hcl}


def kubernetes_auth_role_path(manifest: Manifest) -> str:
    """``auth/<mount_path>/role/<role>``: where :func:`kubernetes_auth_role` is written."""
    config = vault_config(manifest)
    return f"auth/{config.mount_path}/role/{config.role}"


def kubernetes_auth_role(
    manifest: Manifest,
    *,
    policies: Sequence[str] = ("floe",),
    service_account: str = RUN_SERVICE_ACCOUNT,
    namespace: str | None = None,
    token_ttl: int = 3600,
    token_max_ttl: int | None = None,
) -> dict[str, Any]:
    """Body of ``POST auth/<mount>/role/<role>`` binding the run pods' service account.

    Args:
        manifest: The loaded manifest.
        policies: Policies the token gets (the one :func:`vault_policy` generated).
        service_account: The run pods' service account.
        namespace: Namespace of the run pods (default: ``plugins.secrets.namespace``).
        token_ttl: Seconds a login lasts before renewal.
        token_max_ttl: Upper bound across renewals; make it longer than the longest run.
    """
    vault_config(manifest)
    payload: dict[str, Any] = {
        "bound_service_account_names": [service_account],
        "bound_service_account_namespaces": [namespace or manifest.plugins.secrets.namespace],
        "token_policies": list(policies),
        "token_ttl": token_ttl,
    }
    if token_max_ttl is not None:
        payload["token_max_ttl"] = token_max_ttl
    return payload


def _tf_value(value: Any) -> str:
    return json.dumps(value)


def terraform(
    manifest: Manifest,
    *,
    policy_name: str = "floe",
    database_roles: Sequence[str] = (),
    database_mount: str = "database",
    service_account: str = RUN_SERVICE_ACCOUNT,
    namespace: str | None = None,
    token_ttl: int = 3600,
    token_max_ttl: int | None = None,
) -> str:
    """The policy and the auth role as Terraform (``vault_policy`` + the ADR's role block)."""
    config = vault_config(manifest)
    hcl = vault_policy(manifest, database_roles=database_roles, database_mount=database_mount)
    role = kubernetes_auth_role(
        manifest,
        policies=[policy_name],
        service_account=service_account,
        namespace=namespace,
        token_ttl=token_ttl,
        token_max_ttl=token_max_ttl,
    )
    fields: dict[str, Any] = {
        "backend": config.mount_path,
        "role_name": config.role,
        **role,
    }
    width = max(len(key) for key in fields)
    body = "\n".join(f"  {key.ljust(width)} = {_tf_value(value)}" for key, value in fields.items())
    indented = "\n".join(f"    {line}" if line else "" for line in hcl.splitlines())
    ident = policy_name.replace("-", "_")
    return (
        f'resource "vault_policy" "{ident}" {{\n'
        f"  name   = {json.dumps(policy_name)}\n"
        f"  policy = <<-EOT\n{indented}\n  EOT\n}}\n\n"
        f'resource "vault_kubernetes_auth_backend_role" "{ident}_runtime" {{\n{body}\n}}\n'
    )
