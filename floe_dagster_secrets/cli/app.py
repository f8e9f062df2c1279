"""``floe``: the command line over the secrets backends, the manifest and the dbt profile.

Nouns are groups, verbs are commands (``floe secrets list``, ``floe profiles render``,
``floe manifest schema``). The commands here only parse options and pick the output functions;
the work is in :mod:`floe_dagster_secrets.cli.commands` and the library.

Start-up is kept short (``benchmarks/cli_latency.py``): a command imports what it needs when it
runs, and the ``profiles``, ``manifest`` and ``secrets rbac`` commands are loaded only when asked
for (or listed by ``--help``).

Exit codes: 0 success, 1 a problem the user can fix (every ``FloeSecretsError``: message in red
on stderr), 2 a usage error. No traceback ever reaches the terminal: anything unexpected is
reduced to one redacted line.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from floe_dagster_secrets.cli.output import (
    echo,
    echo_err,
    echo_value,
    print_error,
    progress,
    to_json,
)
from floe_dagster_secrets.cli.target import Target, target_options
from floe_dagster_secrets.errors import FloeSecretsError
from floe_dagster_secrets.masking import install_masker, redact

LITERAL_HELP = (
    "KEY=VALUE; repeatable. Visible in shell history and process lists (ps): prefer "
    "--from-env-file or --from-stdin for real credentials."
)


class LazyGroup(click.Group):
    """A group whose ``lazy_subcommands`` (name → ``"module:attribute"``) load on first use."""

    def __init__(
        self, *args: Any, lazy_subcommands: dict[str, str] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_subcommands = dict(lazy_subcommands or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Eager and lazy command names, sorted."""
        return sorted({*super().list_commands(ctx), *self.lazy_subcommands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The command, importing its module if it is a lazy one."""
        if cmd_name in self.lazy_subcommands and cmd_name not in self.commands:
            module, attribute = self.lazy_subcommands[cmd_name].split(":")
            command = getattr(importlib.import_module(module), attribute)
            if not isinstance(command, click.Command):  # pragma: no cover - a wiring mistake
                raise TypeError(f"{self.lazy_subcommands[cmd_name]} is not a click command")
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)


class FloeGroup(LazyGroup):
    """The root group: turns every error into a message and an exit code, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command, mapping FloeSecretsError and anything unexpected to exit 1."""
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except BrokenPipeError:
            raise  # `floe secrets list | head -1`: click exits quietly
        except FloeSecretsError as e:
            print_error(str(e))
            ctx.exit(1)
        except Exception as e:  # the last line of defence: one redacted line
            line = " ".join(redact(str(e)).split())
            print_error(
                f"unexpected {type(e).__name__}: {line or '(no message)'}. This is a bug in "
                "floe; please report it with the command you ran."
            )
            ctx.exit(1)


@click.group(
    cls=FloeGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    lazy_subcommands={
        "profiles": "floe_dagster_secrets.cli.project:profiles_group",
        "manifest": "floe_dagster_secrets.cli.project:manifest_group",
    },
)
@click.version_option(package_name="floe-dagster-secrets", prog_name="floe")
def cli() -> None:
    """floe: secrets for Dagster jobs on Kubernetes (ADR-0023)."""
    install_masker()


@cli.group(
    "secrets",
    cls=LazyGroup,
    lazy_subcommands={
        "rbac": "floe_dagster_secrets.cli.rbac:rbac_command",
        "audit-policy": "floe_dagster_secrets.cli.audit_policy:audit_policy_command",
        "eso": "floe_dagster_secrets.cli.eso_apply:eso_group",
    },
)
def secrets_group() -> None:
    """List, check, create, rotate and read secrets (values only with 'get --reveal')."""


def _finish(code: int) -> None:
    if code:
        click.get_current_context().exit(code)


@secrets_group.command("list")
@target_options
def list_command(target: Target) -> None:
    """List secrets as NAME TYPE AGE (never values)."""
    from floe_dagster_secrets.cli import commands

    plugin = target.plugin()
    with progress("Listing secrets…") as emit:
        code = commands.list_secrets(plugin, target.namespace, emit=emit, output=target.output)
    _finish(code)


@secrets_group.command("validate")
@click.option("--strict", is_flag=True, help="Treat manifest naming warnings as errors.")
@click.option(
    "--with-manifest",
    "with_manifests",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Another environment's manifest: fail if it uses a secret of this one (repeatable). "
    "manifest.<env>.yaml files beside --manifest are compared too.",
)
@target_options
def validate_command(target: Target, strict: bool, with_manifests: tuple[Path, ...]) -> None:
    """Check every secret the manifest references exists with its required keys.

    Exits 1 if any is missing or incomplete, or if a secret is also used by another
    environment's manifest. Reads key names only, never values.
    """
    from floe_dagster_secrets.cli import commands
    from floe_dagster_secrets.cli.environments import check_environments

    required = target.required_secrets(strict=strict)
    check_environments(target, with_manifests, emit=echo_err, strict=strict)
    plugin = target.plugin()
    with progress("Checking secrets…") as emit:
        code = commands.validate_secrets(
            plugin,
            target.namespace,
            required,
            emit=emit,
            manifest_label=str(target.manifest_file),
            output=target.output,
            fix_flags=target.fix_flags(),
        )
    _finish(code)


@secrets_group.command("status")
@click.option(
    "--assets",
    "show_assets",
    is_flag=True,
    help="Also list, for each secret the manifest references, the assets that depend on it.",
)
@click.option(
    "--definitions",
    "definitions",
    metavar="MODULE[:ATTR]",
    default=None,
    help="With --assets: load this Dagster code location (a module importable from the current "
    "directory, or a .py file) to list each secret's assets, jobs and schedules.",
)
@target_options
def status_command(target: Target, show_assets: bool, definitions: str | None) -> None:
    """Show NAME TYPE VERSION AGE, marking referenced secrets that are missing or stale."""
    from floe_dagster_secrets.cli import commands, rotation

    if definitions is not None and not show_assets:
        raise click.UsageError("--definitions only makes sense with --assets")
    manifest = target.manifest(required=show_assets)
    required = target.required_secrets() if manifest is not None else []
    plugin = target.plugin()
    captured: list[str] = []
    with progress("Reading secret status…") as emit:
        names = [item.name for item in required]
        found = (  # the code location first: a load error must come before any output
            rotation.code_location_dependents(manifest, names, definitions, Path.cwd())
            if definitions is not None and manifest is not None
            else None
        )
        code = commands.secrets_status(
            plugin,
            target.namespace,
            required,
            emit=captured.append if show_assets and target.output == "json" else emit,
            output=target.output,
            fix_flags=target.fix_flags(),
        )
        if show_assets and manifest is not None:
            if target.output == "json":
                document = json.loads("\n".join(captured))
                document["assets"] = {
                    name: list(manifest.assets_for_secret(name))
                    if found is None
                    else found[name]["assets"]
                    for name in names
                }
                if found is not None:
                    document["dependents"] = found
                emit(to_json(document))
            else:
                emit("")
                lines = (
                    rotation.dependent_lines(found, definitions or "")
                    if found is not None
                    else rotation.asset_lines(names, manifest.assets_for_secret)
                )
                for line in lines:
                    emit(line)
    _finish(code)


def _read_stdin() -> dict[str, str]:
    from floe_dagster_secrets.cli.values import read_stdin_values

    if sys.stdin.isatty():
        echo_err("Reading KEY=VALUE lines from stdin; end with Ctrl-D.")
    return read_stdin_values(sys.stdin.buffer)  # size-checked while reading


def _collect(
    env_file: Path | None,
    from_stdin: bool,
    literals: Sequence[str],
    generate: Sequence[str] | None = None,
) -> tuple[dict[str, str], list[str]]:
    from floe_dagster_secrets.cli.values import (
        generate_values,
        merge_sources,
        parse_literals,
        read_env_file,
    )

    sources: list[tuple[str, dict[str, str]]] = []
    if env_file is not None:
        sources.append(("--from-env-file", read_env_file(env_file)))
    if from_stdin:
        sources.append(("--from-stdin", _read_stdin()))
    if literals:
        sources.append(("--from-literal", parse_literals(literals)))
    generated = generate_values(generate or ())
    if generated:
        sources.append(("--generate", generated))
    data = merge_sources(sources)
    empty = [option for option, values in sources if not values]
    if empty:
        raise click.UsageError(
            f"{' and '.join(empty)} gave no KEY=VALUE line (only blank lines or comments)"
        )
    if not data:
        raise click.UsageError(
            "no values given: use --from-env-file FILE, --from-stdin or --from-literal KEY=VALUE"
            + (", or --generate KEY[:LENGTH]" if generate is not None else "")
        )
    return data, list(generated)


_ENV_FILE = click.option(
    "--from-env-file",
    "env_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Read KEY=VALUE lines (dotenv format) from FILE.",
)
_STDIN = click.option(
    "--from-stdin", is_flag=True, help="Read KEY=VALUE lines (dotenv format) from stdin."
)
_LITERAL = click.option("--from-literal", "literals", multiple=True, help=LITERAL_HELP)


@secrets_group.command("create")
@click.argument("name")
@_ENV_FILE
@_STDIN
@_LITERAL
@target_options
def create_command(
    target: Target, name: str, env_file: Path | None, from_stdin: bool, literals: tuple[str, ...]
) -> None:
    """Create secret NAME from an env file, stdin or literals. Never echoes values."""
    from floe_dagster_secrets.cli import commands

    data, _ = _collect(env_file, from_stdin, literals)
    plugin = target.plugin()
    with progress(f"Creating {name}…") as emit:
        code = commands.create_secret(
            plugin, name, target.namespace, data, emit=emit, output=target.output
        )
    _finish(code)


@secrets_group.command("rotate")
@click.argument("name")
@_ENV_FILE
@_STDIN
@_LITERAL
@click.option(
    "--generate",
    multiple=True,
    metavar="KEY[:LENGTH]",
    help="Set KEY to a new random URL-safe value of LENGTH characters (default 32); repeatable.",
)
@click.option(
    "--restart-deployments",
    is_flag=True,
    help="Then restart the Deployments/StatefulSets/DaemonSets that consume NAME (k8s and "
    "external-secrets: wherever the value lands in a Kubernetes Secret; never Jobs: runs in "
    "flight keep their credential). Reloader-managed ones are skipped.",
)
@click.option(
    "--dry-run", is_flag=True, help="Change nothing; print what would be updated and restarted."
)
@target_options
def rotate_command(
    target: Target,
    name: str,
    env_file: Path | None,
    from_stdin: bool,
    literals: tuple[str, ...],
    generate: tuple[str, ...],
    restart_deployments: bool,
    dry_run: bool,
) -> None:
    """Write a new version of secret NAME; given keys change, the others are kept."""
    from floe_dagster_secrets.cli import commands, rotation
    from floe_dagster_secrets.cli.rotation_lines import (
        check_rotatable,
        restart_client,
        restart_refusal,
    )

    data, generated = _collect(env_file, from_stdin, literals, generate)
    plugin = target.plugin()  # constructed without I/O; its capability decides
    refusal = restart_refusal(plugin) if restart_deployments else None
    if refusal:  # only where the rotated value lands in a Kubernetes Secret (k8s, ESO)
        raise click.UsageError(refusal)
    check_rotatable(plugin, target.manifest, name)  # ESO: not a custom remote mapping
    if restart_deployments or dry_run:
        manifest = target.manifest()
        assets = manifest.assets_for_secret(name) if manifest is not None else ()
        policy = manifest.secret_policy(name).on_rotation if manifest is not None else None
        client = restart_client(plugin) if restart_deployments else None  # built on first call
        with progress(f"Rotating {name}…") as emit:
            code = rotation.rotate_secret(
                plugin,
                name,
                target.namespace,
                data,
                emit=emit,
                api_client=client,
                assets=assets,
                on_rotation=policy or "rematerialize",
                dry_run=dry_run,
                generated=generated,
                output=target.output,
            )
        _finish(code)
        return
    with progress(f"Rotating {name}…") as emit:
        code = commands.rotate_secret(
            plugin,
            name,
            target.namespace,
            data,
            emit=emit,
            generated=generated,
            output=target.output,
        )
    _finish(code)


@secrets_group.command("get")
@click.argument("name")
@click.option("--reveal", is_flag=True, help="Print the values (KEY=VALUE lines).")
@click.option("--key", default=None, help="Only this key (with --reveal: its raw value).")
@click.option(
    "--force", is_flag=True, help="With --reveal: print values even when stdout is not a terminal."
)
@target_options
def get_command(target: Target, name: str, reveal: bool, key: str | None, force: bool) -> None:
    """Show secret NAME's keys and metadata; its values only with --reveal."""
    from floe_dagster_secrets.cli import commands

    if force and not reveal:
        raise click.UsageError("--force only makes sense with --reveal")
    if reveal and not force and not sys.stdout.isatty():
        raise click.UsageError(
            "refusing to --reveal values into a pipe or file (stdout is not a terminal); add "
            "--force if that is really what you want"
        )
    plugin = target.plugin()
    code = commands.get_secret(
        plugin,
        name,
        target.namespace,
        emit=echo,
        emit_value=echo_value,
        reveal=reveal,
        key=key,
        output=target.output,
    )
    _finish(code)


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point (``floe``)."""
    install_masker()
    cli.main(args=list(argv) if argv is not None else None, prog_name="floe")
