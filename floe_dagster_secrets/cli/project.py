"""``floe profiles render`` and ``floe manifest schema``: files generated from the manifest.

Neither touches a secrets backend: the dbt profile holds only ``env_var('DBT_ENV_SECRET_…')``
references, and the schema is the manifest's shape.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import yaml

from floe_dagster_secrets.backends.local import write_atomic
from floe_dagster_secrets.cli.output import echo
from floe_dagster_secrets.cli.target import (
    DEFAULT_MANIFEST,
    load_manifest_showing_warnings,
    refuse_empty,
)
from floe_dagster_secrets.errors import FloeSecretsError

CONFIGMAP_FILENAME = "dbt-profiles-configmap.yaml"


@click.group("profiles")
def profiles_group() -> None:
    """Generate the dbt profile from the manifest."""


@profiles_group.command("render")
@click.option(
    "--manifest",
    "manifest_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_MANIFEST,
    show_default=True,
    help="The manifest to read.",
)
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Directory to write profiles.yml into (created if missing).",
)
@click.option(
    "--configmap",
    is_flag=True,
    help=f"Also write {CONFIGMAP_FILENAME}: a ConfigMap holding profiles.yml for job pods.",
)
@click.option(
    "--namespace",
    "-n",
    default=None,
    callback=refuse_empty,
    help="ConfigMap namespace [default: manifest's].",
)
@click.option("--profile-name", default="floe", show_default=True, help="dbt profile name.")
@click.option("--target", default=None, help="dbt target name [default: manifest's environment].")
def render_command(
    manifest_path: Path,
    output_dir: Path,
    configmap: bool,
    namespace: str | None,
    profile_name: str,
    target: str | None,
) -> None:
    """Write profiles.yml for the manifest's compute target (env_var() references only)."""
    manifest = load_manifest_showing_warnings(manifest_path)
    from floe_dagster_secrets.dbt import render_profiles_configmap, write_profiles_yml

    compute = manifest.require_compute("render a dbt profile")
    target = target or manifest.environment
    # everything is rendered (and so checked) before anything is written
    document = (
        render_profiles_configmap(
            compute.type,
            compute.config,
            profile_name=profile_name,
            target=target,
            namespace=namespace or manifest.plugins.secrets.namespace,
        )
        if configmap
        else None
    )
    try:
        written = write_profiles_yml(
            output_dir, compute.type, compute.config, profile_name=profile_name, target=target
        )
        echo(f"✓ Wrote {written} (profile {profile_name}, target {target}, compute {compute.type})")
        if document is not None:
            text = yaml.safe_dump(document, sort_keys=False, width=100_000)
            write_atomic(output_dir, CONFIGMAP_FILENAME, text.encode("utf-8"))
            # Holds no secret (that is the point of it): the usual mode for a manifest file.
            (output_dir / CONFIGMAP_FILENAME).chmod(0o644)
            echo(
                f"✓ Wrote {output_dir / CONFIGMAP_FILENAME} "
                f"(ConfigMap {document['metadata']['name']})"
            )
    except OSError as e:
        raise FloeSecretsError(
            f"Cannot write the dbt profile into --output-dir '{output_dir}': "
            f"{e.strerror or type(e).__name__}",
            fix="pass a directory you may write to (it is created if missing), not a file",
            path=str(output_dir),
        ) from None


@click.group("manifest")
def manifest_group() -> None:
    """Work with manifest.yaml."""


@manifest_group.command("schema")
def schema_command() -> None:
    """Print the manifest's JSON Schema (for editors and CI linters)."""
    from floe_dagster_secrets.manifest import manifest_json_schema

    echo(json.dumps(manifest_json_schema(), indent=2))
