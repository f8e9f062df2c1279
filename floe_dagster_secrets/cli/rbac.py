"""``floe secrets rbac``: print least-privilege RBAC objects rendered from the manifest.

The rendering is :mod:`floe_dagster_secrets.kube.rbac` (pure); this module only parses options and
writes the YAML (or JSON) to stdout, ready for ``kubectl apply -f -``. Nothing here talks to a
cluster, so the command works offline and in CI.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from floe_dagster_secrets.backends.registry import load_backend_class
from floe_dagster_secrets.cli.output import echo
from floe_dagster_secrets.cli.target import (
    DEFAULT_MANIFEST,
    load_manifest_showing_warnings,
    refuse_empty,
)
from floe_dagster_secrets.kube import rbac


@click.command("rbac")
@click.option(
    "--manifest",
    "manifest_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_MANIFEST,
    show_default=True,
    help="The manifest whose secret references are granted.",
)
@click.option(
    "-n",
    "--namespace",
    default=None,
    callback=refuse_empty,
    help="Namespace [default: plugins.secrets.namespace].",
)
@click.option(
    "--component",
    "components",
    multiple=True,
    type=click.Choice([*rbac.COMPONENTS, "all"]),
    help="What to render (repeatable) [default: job-runner]. job-runner: floe-job-runner with "
    "'get' on the referenced secrets. sensor: rotation sensor (list/watch secrets). restart: "
    "rotate --restart-deployments. launcher: FloeK8sRunLauncher.",
)
@click.option(
    "--dagster-service-account",
    default=None,
    metavar="[NAMESPACE/]NAME",
    help="ServiceAccount of the Dagster daemon/webserver, bound to the sensor and launcher "
    "roles [default: NAMESPACE/dagster].",
)
@click.option(
    "--rotator-service-account",
    default=None,
    metavar="[NAMESPACE/]NAME",
    help="Who runs 'rotate --restart-deployments' [default: a floe-rotator ServiceAccount, "
    "rendered too].",
)
@click.option(
    "--extra-secret",
    "extra_secrets",
    multiple=True,
    metavar="NAME",
    help="Another secret the job runner reads (the launcher's platform_secrets); repeatable.",
)
@click.option(
    "-o", "--output", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True
)
def rbac_command(
    manifest_path: Path,
    namespace: str | None,
    components: tuple[str, ...],
    dagster_service_account: str | None,
    rotator_service_account: str | None,
    extra_secrets: tuple[str, ...],
    output: str,
) -> None:
    """Print the ServiceAccount, Roles and RoleBindings floe needs (kubectl apply -f -)."""
    if not manifest_path.is_file():
        raise click.UsageError(f"no manifest at {manifest_path}: pass --manifest PATH")
    manifest = load_manifest_showing_warnings(manifest_path)
    ns = namespace or manifest.plugins.secrets.namespace
    chosen = rbac.COMPONENTS if "all" in components else (components or ("job-runner",))
    objects = rbac.render_objects(
        manifest,
        components=chosen,
        namespace=ns,
        dagster_account=(
            rbac.Subject.parse(dagster_service_account, default_namespace=ns)
            if dagster_service_account
            else None
        ),
        rotator_account=(
            rbac.Subject.parse(rotator_service_account, default_namespace=ns)
            if rotator_service_account
            else None
        ),
        extra_secrets=extra_secrets,
    )
    if output == "json":
        echo(json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}, indent=2))
    else:
        echo(f"# floe secrets rbac: {', '.join(chosen)} for namespace {ns} ({manifest_path})")
        backend = load_backend_class(manifest.plugins.secrets.type)
        if "job-runner" in chosen and not backend.pod_reads_kubernetes_secrets:
            echo(
                f"# {backend.name} backend: values come from {backend.display_name()}, so "
                "floe-job-runner reads no Secret"
            )
        echo(rbac.to_yaml(objects).rstrip("\n"))
