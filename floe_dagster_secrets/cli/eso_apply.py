"""``floe secrets eso render|apply``: the ExternalSecrets and ClusterSecretStore a manifest implies.

ADR-0023 shows, beside each cloud manifest, the ClusterSecretStore and ExternalSecret it means.
``render`` prints them as YAML a reviewer can read (no cluster needed); ``apply`` server-side
applies them, first printing the diff of each against the live object, and writes only what
differs, so applying twice changes nothing the second time. ``apply --dry-run`` prints the same
diff after the apiserver has validated every object against ESO's CRD schema, and stores nothing.

What the manifest implies:
- the ClusterSecretStore ``plugins.secrets.config.store``, when its provider is written or told by
  its fields (``region`` AWS, ``project`` GCP, ``vault_url`` Azure, ``vault_address`` Vault);
- one ExternalSecret per secret the manifest references (or gives a policy): from
  ``secrets.<name>.remote`` (remote key, and per env key a property or the whole secret), else the
  default layout (``{remote_key_prefix}{namespace}/{name}``, property = env key) for the keys the
  secret must hold. A secret with neither is named in a note with what to write.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import click

from floe_dagster_secrets.cli.output import echo, echo_err, to_json
from floe_dagster_secrets.cli.target import Target, required_secrets, target_options
from floe_dagster_secrets.errors import InvalidManifestError

if TYPE_CHECKING:
    from floe_dagster_secrets.manifest import Manifest

BACKEND = "external-secrets"


@dataclass
class EsoPlan:
    """The objects a manifest implies, and notes on what it could not render and why."""

    objects: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _store(config: Any, plan: EsoPlan) -> None:
    from floe_dagster_secrets.backends.eso import (
        StoreSettings,
        cluster_secret_store_body,
        infer_provider,
    )

    fields = config.model_dump()
    provider = infer_provider(fields)
    if provider is None:
        plan.notes.append(
            f"ClusterSecretStore '{config.store}' is not rendered: no field tells its provider. "
            "Set plugins.secrets.config.provider (aws, gcp, azure or vault) and its fields, or "
            "create the store yourself."
        )
        return
    settings = StoreSettings(
        provider=provider,
        region=fields.get("region"),
        project=fields.get("project"),
        cluster_location=fields.get("cluster_location"),
        cluster_name=fields.get("cluster_name"),
        vault_url=fields.get("vault_url"),
        vault_address=fields.get("vault_address"),
        vault_path=fields.get("vault_path") or "secret",
        vault_role=fields.get("vault_role"),
        vault_auth_mount=fields.get("vault_auth_mount") or "kubernetes",
        service_account=fields.get("service_account") or "external-secrets",
        service_account_namespace=fields.get("service_account_namespace") or "external-secrets",
    )
    plan.objects.append(
        cluster_secret_store_body(config.store, settings, api_version=config.api_version)
    )


def eso_plan(manifest: Manifest, namespace: str) -> EsoPlan:
    """The ClusterSecretStore and ExternalSecrets ``manifest`` implies in ``namespace``.

    Raises:
        InvalidManifestError: The manifest's backend is not ``external-secrets``.
    """
    from floe_dagster_secrets.backends.eso import KeyRef, external_secret_from_refs, remote_key

    secrets = manifest.plugins.secrets
    if secrets.type != BACKEND:
        raise InvalidManifestError(
            f"the manifest's secrets backend is '{secrets.type}', so it implies no ESO objects",
            fix="set plugins.secrets.type: external-secrets (and config.store) to use the "
            "External Secrets Operator",
            path="plugins.secrets.type",
        )
    config: Any = secrets.config
    plan = EsoPlan()
    _store(config, plan)
    required = {item.name: item.keys for item in required_secrets(manifest)}
    for name in [*required, *(n for n in manifest.secrets if n not in required)]:
        remote = manifest.secret_policy(name).remote
        if remote is not None:
            refs = [KeyRef(key, remote.key, prop) for key, prop in remote.mapping()]
        elif required.get(name):
            where = remote_key(config.remote_key_prefix, namespace, name)
            refs = [KeyRef(key, where, key) for key in sorted(required[name])]
        else:
            plan.notes.append(
                f"ExternalSecret '{name}' is not rendered: the manifest says neither which keys "
                f"it holds nor where they come from. Add secrets.{name}.remote (key, and "
                f"properties or whole) or secrets.{name}.keys."
            )
            continue
        plan.objects.append(
            external_secret_from_refs(
                name,
                namespace,
                refs,
                store=config.store,
                refresh_interval=config.refresh_interval,
                api_version=config.api_version,
            )
        )
    return plan


def _plan_for(target: Target) -> EsoPlan:
    manifest = target.manifest(required=True)
    assert manifest is not None  # noqa: S101 - manifest(required=True) raises instead
    plan = eso_plan(manifest, target.namespace)
    for note in plan.notes:
        echo_err(f"Note: {note}")
    return plan


@click.group("eso")
def eso_group() -> None:
    """Render and apply the ExternalSecrets and ClusterSecretStore the manifest implies."""


@eso_group.command("render")
@target_options
def render_command(target: Target) -> None:
    """Print the ESO objects the manifest implies as YAML (JSON with -o json); no cluster."""
    from floe_dagster_secrets.backends.eso import to_yaml

    plan = _plan_for(target)
    if target.output == "json":
        echo(to_json(plan.objects))
        return
    click.echo(to_yaml(plan.objects), nl=False)  # names and locations only, never a value


@eso_group.command("apply")
@click.option(
    "--dry-run",
    is_flag=True,
    help="Only show the diff: the apiserver validates each object (dryRun=All), stores nothing.",
)
@target_options
def apply_command(target: Target, dry_run: bool) -> None:
    """Server-side apply the ESO objects the manifest implies; print what changes (a diff).

    Objects equal to the live ones are left alone, so running it twice writes nothing twice.
    """
    from floe_dagster_secrets.backends.eso import ESOSecretsPlugin, apply_objects

    plan = _plan_for(target)
    plugin = target.plugin()
    if not isinstance(plugin, ESOSecretsPlugin):  # pragma: no cover - eso_plan refused already
        raise click.UsageError(
            "floe secrets eso apply needs plugins.secrets.type: external-secrets"
        )
    results = apply_objects(plugin, plan.objects, dry_run=dry_run)
    if target.output == "json":
        echo(to_json({"dry_run": dry_run, "objects": [r.to_json() for r in results]}))
        return
    for result in results:
        if result.action == "unchanged":
            echo(f"= {result.label}: unchanged")
            continue
        verb = {"create": "created", "update": "updated"}[result.action]
        if dry_run:
            verb = f"would be {verb}"
        echo(f"{'✓' if result.applied else '-'} {result.label}: {verb}")
        for line in result.diff:
            click.echo(f"    {line}")
    changed = sum(1 for r in results if r.action != "unchanged")
    summary = f"{changed} of {len(results)} objects {'would change' if dry_run else 'changed'}"
    echo(f"{summary}{' (dry run: nothing stored)' if dry_run else ''}.")
