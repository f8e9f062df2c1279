"""The ``floe secrets`` commands as pure functions: a plugin and arguments in, lines out.

Each function writes through an ``emit`` function and returns the exit code, so it can be tested
without click and reused by other front ends. None of them reads a value except :func:`get_secret`
with ``reveal=True``; listing, validating and status use metadata only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from floe_dagster_secrets.backends.base import ReportsSyncState, SecretsPlugin
from floe_dagster_secrets.cli.output import Emit, age, plural, print_warning, table, to_json
from floe_dagster_secrets.cli.values import format_dotenv
from floe_dagster_secrets.env_names import non_portable_keys, non_portable_warning
from floe_dagster_secrets.errors import (
    FloeSecretsError,
    SecretAccessDeniedError,
    SecretNotFoundError,
)
from floe_dagster_secrets.types import SecretMetadata, reveal_all


def backend_label(plugin: SecretsPlugin) -> str:
    """How a backend is named in messages, e.g. ``local store``: the backend's own ``label``."""
    return plugin.display_name()


@dataclass(frozen=True)
class RequiredSecret:
    """A secret the manifest references and the keys it must hold."""

    name: str
    field_path: str
    keys: tuple[str, ...] = ()
    max_age_days: int | None = None


@dataclass
class _Check:
    required: RequiredSecret
    ok: bool
    summary: str
    fix: str | None = None
    keys: tuple[str, ...] = ()
    missing_keys: tuple[str, ...] = field(default_factory=tuple)


def _meta_json(meta: SecretMetadata) -> dict[str, Any]:
    """``meta.to_json()``, plus ``problem`` and ``fix`` for an entry the backend could not read."""
    document = meta.to_json()
    if meta.extra.get("problem"):
        document["problem"] = meta.extra["problem"]
        document["fix"] = meta.extra.get("fix")
    return document


def _emit_unreadable(secrets: Sequence[SecretMetadata], emit: Emit) -> None:
    """After a table: one line per entry the backend listed but could not read, with its fix."""
    unreadable = [meta for meta in secrets if meta.extra.get("problem")]
    if unreadable:
        emit("")
    for meta in unreadable:
        emit(f"✗ {meta.name}: {meta.extra['problem']}")
        emit(f"  Fix: {meta.extra.get('fix')}")


def list_secrets(
    plugin: SecretsPlugin,
    namespace: str,
    *,
    emit: Emit,
    output: str = "table",
    now: datetime | None = None,
) -> int:
    """``floe secrets list``: NAME TYPE AGE, or the metadata as JSON. Never values.

    A secret the backend cannot read (a corrupt local file) is listed by name with its problem
    and fix; the others are listed as usual.
    """
    secrets = plugin.list_secrets(namespace)
    if output == "json":
        emit(to_json([_meta_json(meta) for meta in secrets]))
        return 0
    if not secrets:
        emit(f"No secrets found in namespace {namespace}.")
        return 0
    rows = [(meta.name, meta.type, age(meta.created, now=now)) for meta in secrets]
    for line in table(("NAME", "TYPE", "AGE"), rows):
        emit(line)
    _emit_unreadable(secrets, emit)
    return 0


def _check(plugin: SecretsPlugin, namespace: str, required: RequiredSecret, flags: str) -> _Check:
    try:
        meta = plugin.describe_secret(required.name, namespace)
    except SecretNotFoundError:
        return _Check(
            required, False, "NOT FOUND", fix=f"floe secrets create {required.name}{flags}"
        )
    except SecretAccessDeniedError as e:
        return _Check(required, False, f"access denied ({e.problem})", fix=e.fix)
    except FloeSecretsError as e:  # e.g. a corrupt file: report it, check the others
        return _Check(required, False, f"unreadable ({e.problem})", fix=e.fix)
    if meta.sync is not None and not meta.sync.ready:  # an ExternalSecret ESO never synced
        return _Check(
            required,
            False,
            f"not synced ({meta.sync.reason}: {meta.sync.message})",
            fix=f"check ClusterSecretStore '{meta.sync.source}' and the remote key, then "
            f"'floe secrets status{flags}'",
            keys=meta.keys,
        )
    if not meta.keys_known:  # a Secret floe did not write: its key count, never its values
        return _unnamed_keys_check(required, meta, flags)
    missing = tuple(key for key in required.keys if key not in meta.keys)
    if missing:
        return _Check(
            required,
            False,
            f"missing {'key' if len(missing) == 1 else 'keys'} {', '.join(missing)}",
            fix=f"floe secrets rotate {required.name} --from-env-file FILE{flags}",
            keys=meta.keys,
            missing_keys=missing,
        )
    return _Check(required, True, f"exists, {plural(len(meta.keys), 'key')}", keys=meta.keys)


def _unnamed_keys_check(required: RequiredSecret, meta: SecretMetadata, flags: str) -> _Check:
    """Judge a secret whose key names cannot be known without reading its values.

    Kubernetes shows a Secret's key names only with the values, so for one floe did not write
    (no ``floe.dev/keys`` annotation) validate checks the key count the apiserver's Table gives
    (``SecretMetadata.check_keys``) and says that the names were not checked.
    """
    verdict = meta.check_keys(required.keys)
    if verdict.short:
        return _Check(
            required,
            False,
            verdict.problem or "",
            fix=f"add the keys it lacks, or rewrite it with floe secrets rotate {required.name} "
            f"--from-env-file FILE{flags} (floe then records its key names)",
        )
    held = plural(meta.key_count, "key") if meta.key_count is not None else "keys"
    note = (
        " (key names not checked: floe did not write it, and Kubernetes shows them only with "
        "the values)"
        if not verdict.names_checked
        else ""
    )
    return _Check(required, True, f"exists, {held}{note}")


def _fix_sentence(checks: Sequence[_Check]) -> str:
    commands = [c.fix for c in checks if c.fix and c.fix.startswith("floe ")]
    others = [c.fix for c in checks if c.fix and not c.fix.startswith("floe ")]
    parts = []
    if commands:
        quoted = [f"'{command}'" for command in commands]
        joined = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]
        parts.append(f"Run {joined} to fix.")
    parts.extend(f"Fix: {fix}" for fix in dict.fromkeys(others))
    return " ".join(parts)


def validate_secrets(
    plugin: SecretsPlugin,
    namespace: str,
    required: Sequence[RequiredSecret],
    *,
    emit: Emit,
    manifest_label: str = "manifest.yaml",
    output: str = "table",
    fix_flags: str = "",
) -> int:
    """``floe secrets validate``: every referenced secret exists and holds its required keys.

    Key names come from ``describe_secret`` (metadata), never from reading values.

    Args:
        plugin: Backend to check against.
        namespace: Namespace the secrets should be in.
        required: The manifest's references with their required keys.
        emit: Output function.
        manifest_label: How the manifest is named in the header.
        output: ``table`` (human) or ``json``.
        fix_flags: Options to append to suggested commands (``--namespace x`` …), leading space.

    Returns:
        0 if everything is valid, 1 otherwise.
    """
    flags = f" {fix_flags.strip()}" if fix_flags.strip() else ""
    checks = [_check(plugin, namespace, item, flags) for item in required]
    errors = [c for c in checks if not c.ok]
    if output == "json":
        emit(
            to_json(
                {
                    "manifest": manifest_label,
                    "namespace": namespace,
                    "backend": plugin.name,
                    "valid": not errors,
                    "errors": len(errors),
                    "references": [
                        {
                            "name": c.required.name,
                            "field_path": c.required.field_path,
                            "valid": c.ok,
                            "status": c.summary,
                            "required_keys": list(c.required.keys),
                            "keys": list(c.keys),
                            "missing_keys": list(c.missing_keys),
                            "fix": c.fix,
                        }
                        for c in checks
                    ],
                }
            )
        )
        return 1 if errors else 0
    emit(f"Validating secret references in {manifest_label}...")
    for check in checks:
        emit(f"{'✓' if check.ok else '✗'} {check.required.name}: {check.summary}")
    emit("")
    if errors:
        emit(f"{plural(len(errors), 'error')} found. {_fix_sentence(errors)}")
        return 1
    if not checks:
        emit(f"No secret references in {manifest_label}.")
    elif len(checks) == 1:
        emit("The 1 secret reference is valid.")
    else:
        emit(f"All {len(checks)} secret references are valid.")
    return 0


def secrets_status(
    plugin: SecretsPlugin,
    namespace: str,
    required: Sequence[RequiredSecret] = (),
    *,
    emit: Emit,
    output: str = "table",
    now: datetime | None = None,
    fix_flags: str = "",
) -> int:
    """``floe secrets status``: NAME TYPE VERSION AGE; referenced secrets that are missing marked.

    AGE is the age of the current version (time since the last write), which is what a rotation
    policy cares about. Secrets older than their policy's ``max_age_days`` are flagged. Always 0:
    ``validate`` is the gate; ``status`` informs.
    """
    if isinstance(plugin, ReportsSyncState):  # sync state, not versions: the ADR's ESO table
        from floe_dagster_secrets.cli.sync_status import sync_status

        return sync_status(
            plugin,
            plugin,
            namespace,
            required,
            emit=emit,
            output=output,
            now=now,
            fix_flags=fix_flags,
        )
    now = now or datetime.now(UTC)
    secrets = plugin.list_secrets(namespace)
    present = {meta.name: meta for meta in secrets}
    missing = [item.name for item in required if item.name not in present]
    stale = []
    for item in required:
        meta = present.get(item.name)
        moment = meta and (meta.updated or meta.created)
        if item.max_age_days and moment and (now - moment).days >= item.max_age_days:
            stale.append((item, age(moment, now=now)))
    if output == "json":
        emit(
            to_json(
                {
                    "namespace": namespace,
                    "backend": plugin.name,
                    "secrets": [_meta_json(meta) for meta in secrets],
                    "missing": missing,
                    "stale": [item.name for item, _ in stale],
                }
            )
        )
        return 0
    overdue = {item.name for item, _ in stale}
    rows = [
        (
            meta.name,
            meta.type,
            meta.version or "-",
            age(meta.updated or meta.created, now=now)
            + (" (overdue)" if meta.name in overdue else ""),
        )
        for meta in secrets
    ]
    rows += [(name, "<missing>", "-", "-") for name in missing]
    if not rows:
        emit(f"No secrets found in namespace {namespace}.")
        return 0
    for line in table(("NAME", "TYPE", "VERSION", "AGE"), rows):
        emit(line)
    flags = f" {fix_flags.strip()}" if fix_flags.strip() else ""
    _emit_unreadable(secrets, emit)
    if (missing or stale) and not any(meta.extra.get("problem") for meta in secrets):
        emit("")
    for name in missing:
        emit(f"✗ {name}: referenced by the manifest but NOT FOUND")
        emit(f"  create it with: floe secrets create {name}{flags}")
    for item, item_age in stale:
        emit(
            f"! {item.name}: current version is {item_age} old, over its max_age_days of "
            f"{item.max_age_days} (floe secrets rotate {item.name}{flags})"
        )
    return 0


def create_secret(
    plugin: SecretsPlugin,
    name: str,
    namespace: str,
    data: Mapping[str, str],
    *,
    emit: Emit,
    output: str = "table",
    warn: Emit = print_warning,
) -> int:
    """``floe secrets create``: write a new secret; prints its name and key count, never values.

    Keys that are not portable env var names are written, with a warning (on stderr) that
    ``envFrom`` may skip them.
    """
    meta = plugin.create_secret(name, namespace, data)
    _warn_non_portable(name, namespace, data, warn)
    if output == "json":
        emit(to_json(meta.to_json()))
        return 0
    emit(
        f"✓ Secret {name} created in {backend_label(plugin)} "
        f"(namespace {namespace}, {plural(len(meta.keys), 'key')})"
    )
    return 0


def rotate_secret(
    plugin: SecretsPlugin,
    name: str,
    namespace: str,
    data: Mapping[str, str],
    *,
    emit: Emit,
    generated: Sequence[str] = (),
    output: str = "table",
    warn: Emit = print_warning,
) -> int:
    """``floe secrets rotate``: merge new values into a new version of an existing secret."""
    from floe_dagster_secrets.cli.rotation_lines import after_update_lines, updated_line

    if output != "json":
        emit(f"Rotating secret: {name}")
    meta = plugin.update_secret(name, namespace, data, merge=True)
    _warn_non_portable(name, namespace, data, warn)
    if output == "json":
        document: dict[str, Any] = meta.to_json()
        document["changed_keys"] = sorted(data)
        document["generated_keys"] = list(generated)
        emit(to_json(document))
        return 0
    emit(updated_line(plugin, meta, label=backend_label(plugin)))
    for line in after_update_lines(plugin):  # ESO: the forced sync, as ADR-0023 prints it
        emit(line)
    if generated:
        emit(
            f"✓ Generated new values for {', '.join(generated)} "
            f"(see them with 'floe secrets get {name} --reveal')"
        )
    emit("Rotation complete.")
    return 0


def _warn_non_portable(name: str, namespace: str, data: Mapping[str, str], warn: Emit) -> None:
    bad = non_portable_keys(data)
    if bad:
        warn(non_portable_warning(name, bad, namespace=namespace))


def _keys_shown(meta: SecretMetadata) -> str:
    if meta.keys_known:
        return ", ".join(meta.keys) or "(none)"
    count = meta.key_count
    held = f"{plural(count, 'key')}, " if count is not None else ""
    return f"({held}names shown only with --reveal: floe did not write this secret)"


def _describe_lines(meta: SecretMetadata, now: datetime | None) -> list[str]:
    rows = [
        ("Name:", meta.name),
        ("Namespace:", meta.namespace),
        ("Backend:", meta.backend),
        ("Type:", meta.type),
        ("Version:", meta.version),
        ("Created:", f"{meta.created.isoformat() if meta.created else '-'}"),
        ("Updated:", f"{meta.updated.isoformat() if meta.updated else '-'}"),
        ("Age:", age(meta.created, now=now)),
        ("Keys:", _keys_shown(meta)),
    ]
    return [f"{label:<11}{value}" for label, value in rows]


def get_secret(
    plugin: SecretsPlugin,
    name: str,
    namespace: str,
    *,
    emit: Emit,
    emit_value: Callable[[str], None],
    reveal: bool = False,
    key: str | None = None,
    output: str = "table",
    now: datetime | None = None,
) -> int:
    """``floe secrets get``: keys and metadata; values only with ``reveal`` (through emit_value).

    With ``reveal`` the values are printed as ``KEY=VALUE`` lines (dotenv, readable back by
    ``--from-env-file``), or one raw value with ``key``.
    """
    if not reveal:
        meta = plugin.describe_secret(name, namespace)
        if key is not None and meta.keys_known and key not in meta.keys:
            raise _missing_key(plugin, name, namespace, key, meta.keys)
        if output == "json":
            emit(to_json(meta.to_json()))
        else:
            for line in _describe_lines(meta, now):
                emit(line)
            emit("")
            emit(
                f"Values are hidden; add --reveal to print them (floe secrets get {name} --reveal)."
            )
        return 0
    values = reveal_all(plugin.get_secret(name, namespace))
    if key is not None:
        if key not in values:
            raise _missing_key(plugin, name, namespace, key, tuple(values))
        emit_value(values[key])
        return 0
    if output == "json":
        meta = plugin.describe_secret(name, namespace)
        emit_value(to_json({**meta.to_json(), "data": values}))
    else:
        emit_value(format_dotenv(values))
    return 0


def _missing_key(
    plugin: SecretsPlugin, name: str, namespace: str, key: str, keys: Sequence[str]
) -> SecretNotFoundError:
    return SecretNotFoundError(
        f"Secret '{name}' has no key '{key}' (it has: {', '.join(keys) or 'none'})",
        fix=f"add it with 'floe secrets rotate {name} --from-env-file FILE', or ask for one of "
        "its keys",
        backend=plugin.name,
        secret=name,
        namespace=namespace,
    )
