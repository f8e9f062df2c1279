"""``floe secrets rotate`` with ``--restart-deployments`` and ``--dry-run``.

The secret is written first, then the workloads that consume it are restarted one by one. If a
restart fails the secret is already rotated, so the message says exactly which workloads did not
restart and the ``kubectl`` commands that finish the job; the exit code is 1.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from floe_dagster_secrets.backends.base import SecretsPlugin
from floe_dagster_secrets.cli.commands import backend_label
from floe_dagster_secrets.cli.output import Emit, plural, to_json
from floe_dagster_secrets.cli.rotation_lines import after_update_lines, updated_line
from floe_dagster_secrets.errors import FloeSecretsError
from floe_dagster_secrets.kube import rollout

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

    from floe_dagster_secrets.manifest import Manifest


def _plan(api_client: ApiClient, name: str, namespace: str) -> rollout.RestartPlan:
    annotations = rollout.secret_annotations(api_client, name, namespace)  # metadata-only GET
    workloads = rollout.find_workloads(api_client, namespace)
    return rollout.plan_restarts(workloads, name, namespace, secret_annotations=annotations)


def _emit_plan(plan: rollout.RestartPlan, emit: Emit, *, dry_run: bool) -> None:
    verb = "Would restart" if dry_run else "Restarting"
    if plan.restart:
        emit(f"{'-' if dry_run else '✓'} {verb} deployments: {rollout.names(plan.restart)}")
    elif not plan.skipped_reloader:
        emit(f"{'-' if dry_run else '✓'} No deployments consume {plan.secret}")
    if plan.skipped_reloader:
        emit(f"- Skipped (Reloader): {rollout.names(plan.skipped_reloader)}")


def rotate_secret(
    plugin: SecretsPlugin,
    name: str,
    namespace: str,
    data: Mapping[str, str],
    *,
    emit: Emit,
    api_client: Callable[[], ApiClient] | None = None,
    assets: Sequence[str] = (),
    on_rotation: str = "rematerialize",
    dry_run: bool = False,
    generated: Sequence[str] = (),
    output: str = "table",
) -> int:
    """Rotate ``name``; with ``api_client`` also restart its consumers; with ``dry_run`` only plan.

    Args:
        plugin: Backend holding the secret.
        name: The secret.
        namespace: Its namespace (and the workloads').
        data: New values to merge (never printed; only their key names).
        emit: Output function.
        api_client: Gives the Kubernetes client when ``--restart-deployments`` was asked for.
        assets: Asset keys the manifest says depend on the secret (re-materialized after).
        on_rotation: The secret's policy: what the rotation sensor launches for ``assets``.
        dry_run: Change nothing; print what would happen.
        generated: Keys whose values were generated.
        output: ``table`` or ``json``.

    Returns:
        0 on success, 1 when a restart failed after the secret was updated.
    """
    client = api_client() if api_client is not None else None
    if dry_run:
        meta = plugin.describe_secret(name, namespace)  # exists? metadata only
        plan = _plan(client, name, namespace) if client is not None else None
        if output == "json":
            document = _document(name, meta.version, data, generated, plan, assets, dry_run)
            emit(to_json({**document, "on_rotation": on_rotation}))
            return 0
        emit(f"Dry run: rotating secret {name} (nothing is changed)")
        emit(
            f"- Would update {plural(len(data), 'key')} ({', '.join(sorted(data))}) in "
            f"{backend_label(plugin)}; current version {meta.version}"
        )
        if plan is not None:
            _emit_plan(plan, emit, dry_run=True)
        _emit_assets(assets, emit, dry_run=True, on_rotation=on_rotation)
        return 0
    plan = _plan(client, name, namespace) if client is not None else None
    if output != "json":
        emit(f"Rotating secret: {name}")
    meta = plugin.update_secret(name, namespace, data, merge=True)
    if output != "json":
        emit(updated_line(plugin, meta, label=backend_label(plugin)))
        for line in after_update_lines(plugin):
            emit(line)
        if generated:
            emit(
                f"✓ Generated new values for {', '.join(generated)} "
                f"(see them with 'floe secrets get {name} --reveal')"
            )
    not_restarted: list[str] = []
    if plan is not None and client is not None:
        if output != "json":
            _emit_plan(plan, emit, dry_run=False)
        not_restarted = _restart(client, plan, emit if output != "json" else _discard)
    code = 1 if not_restarted else 0
    if output == "json":
        document = _document(name, meta.version, data, generated, plan, assets, dry_run)
        document["on_rotation"] = on_rotation
        document["not_restarted"] = not_restarted
        emit(to_json(document))
        return code
    if code:
        return code
    _emit_assets(assets, emit, dry_run=False, on_rotation=on_rotation)
    emit("Rotation complete.")
    return 0


def _discard(line: str) -> None:
    """JSON output: the failure is in the document's ``not_restarted`` instead."""


def _restart(client: ApiClient, plan: rollout.RestartPlan, emit: Emit) -> list[str]:
    """Restart each planned workload; on the first failure, the ``kubectl`` commands left."""
    for index, workload in enumerate(plan.restart):
        try:
            rollout.restart_workload(client, workload)
        except FloeSecretsError as e:
            left = plan.restart[index:]
            emit(
                f"✗ Restart failed at {workload.ref} in namespace {plan.namespace}: {e.problem}. "
                f"The secret {plan.secret} is already updated; "
                f"{plural(len(left), 'workload')} still run the old value."
            )
            emit("  Re-run:")
            for item in left:
                emit(f"    {item.restart_command}")
            return [item.restart_command for item in left]
    return []


def _emit_assets(
    assets: Sequence[str], emit: Emit, *, dry_run: bool, on_rotation: str = "rematerialize"
) -> None:
    """What the rotation sensor will launch for ``assets``, by the secret's ``on_rotation``."""
    if not assets:
        return
    names = ", ".join(assets)
    if on_rotation == "checks":
        emit(f"- {'Would re-run' if dry_run else 'Will re-run'} the asset checks of: {names}")
    elif on_rotation == "none":
        emit(f"- on_rotation is none: the rotation sensor launches nothing for {names}")
    else:
        emit(f"- {'Would re-materialize' if dry_run else 'Assets to re-materialize'}: {names}")


def _document(
    name: str,
    version: str,
    data: Mapping[str, str],
    generated: Sequence[str],
    plan: rollout.RestartPlan | None,
    assets: Sequence[str],
    dry_run: bool,
) -> dict[str, Any]:
    return {
        "name": name,
        "version": version,
        "dry_run": dry_run,
        "changed_keys": sorted(data),
        "generated_keys": list(generated),
        "restart": [w.ref for w in plan.restart] if plan else [],
        "skipped_reloader": [w.ref for w in plan.skipped_reloader] if plan else [],
        "assets": list(assets),
    }


def asset_lines(required: Sequence[str], assets_for: Callable[[str], Sequence[str]]) -> list[str]:
    """``floe secrets status --assets``: each referenced secret and the assets that depend on it.

    The assets come from the manifest's ``secrets.<name>.assets``: what a rotation of that secret
    re-materializes (or re-checks).
    """
    lines = ["Assets by secret (manifest secrets.<name>.assets):"]
    for name in required:
        assets = assets_for(name)
        shown = ", ".join(assets) if assets else f"(none declared in secrets.{name}.assets)"
        lines.append(f"  {name}: {shown}")
    return lines


def code_location_dependents(
    manifest: Manifest, names: Sequence[str], definitions: str, base_dir: Path
) -> dict[str, dict[str, list[str]]]:
    """``status --assets --definitions``: assets, jobs and schedules per secret, from the code.

    The assets are those whose ``floe/secrets`` metadata names the secret plus the manifest's
    ``secrets.<name>.assets`` — the same index the rotation sensor launches from. Dagster is
    imported only here, so plain ``status`` stays fast.
    """
    from floe_dagster_secrets.sensors.dependents import consumers_by_secret, load_definitions

    defs = load_definitions(definitions, base_dir)
    extra = {name: manifest.assets_for_secret(name) for name in names}
    found = consumers_by_secret(defs, names, extra)
    return {name: found[name].to_json() for name in names}


def dependent_lines(found: Mapping[str, Mapping[str, Sequence[str]]], source: str) -> list[str]:
    """The table form: one block per secret with its assets, jobs and schedules."""
    lines = [f"Dependents by secret (code location {source}):"]
    for name, consumers in found.items():
        lines.append(f"  {name}")
        for label in ("assets", "jobs", "schedules"):
            shown = ", ".join(consumers[label]) or "(none)"
            lines.append(f"    {label + ':':<11}{shown}")
    return lines
