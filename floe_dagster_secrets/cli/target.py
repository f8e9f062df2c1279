"""The options every ``floe secrets`` command shares, and what they resolve to.

``--manifest`` (default ``manifest.yaml``) names the manifest; ``--backend``, ``--namespace``,
``--store-path``, ``--context`` and ``--kubeconfig`` override what it says. Without a manifest a
command still works when ``--backend`` is given, so ``floe secrets list --backend local`` needs no
file. The manifest is loaded once, lazily, with its warnings shown on stderr.

Start-up matters here (``benchmarks/cli_latency.py``): a plain ``type: local`` or ``type: k8s``
manifest is read without building the manifest's schema
(:mod:`~floe_dagster_secrets.cli.quick_manifest`), and its backend is opened without scanning the
installed packages' entry points; other backends, and commands that need more of the manifest,
load it in full. That fast path is the one place the CLI knows backends by their classes: the
embedded default, :class:`LocalSecretsPlugin`, and ``K8sSecretsPlugin``, whose declared ``name``
it compares (importing them costs no pydantic, kubernetes or rich).
"""

from __future__ import annotations

import functools
import inspect
import os
import shlex
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from floe_dagster_secrets.backends.local import LocalSecretsPlugin
from floe_dagster_secrets.cli.output import print_warning
from floe_dagster_secrets.cli.quick_manifest import KubernetesConfig, LocalStore, quick_secrets
from floe_dagster_secrets.errors import InvalidManifestError

if TYPE_CHECKING:
    from floe_dagster_secrets.backends.base import SecretsPlugin
    from floe_dagster_secrets.cli.commands import RequiredSecret
    from floe_dagster_secrets.manifest import Manifest

DEFAULT_MANIFEST = "manifest.yaml"
DEFAULT_NAMESPACE = "floe-jobs"

F = TypeVar("F", bound=Callable[..., Any])

# Command-line option → backend constructor argument it sets.
_PLUGIN_OPTIONS = {"store_path": "path", "context": "context", "kubeconfig": "kubeconfig"}
_OPTION_FLAGS = {
    "store_path": "--store-path",
    "context": "--context",
    "kubeconfig": "--kubeconfig",
}


def load_manifest_showing_warnings(
    path: Path, *, strict: bool = False, environment: str | None = None
) -> Manifest:
    """Load the manifest; its naming warnings go to stderr instead of the warnings machinery."""
    from floe_dagster_secrets.manifest import load_manifest

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        manifest = load_manifest(path, strict=strict, environment=environment)
    for warning in caught:
        print_warning(str(warning.message))
    return manifest


@dataclass
class Target:
    """Where a command's secrets are: backend, namespace, manifest."""

    manifest_path: Path | None
    namespace_option: str | None
    backend_option: str | None
    store_path: str | None
    context: str | None
    kubeconfig: str | None
    output: str
    environment: str | None = None
    _manifest: Manifest | None = field(default=None, init=False)
    _loaded: bool = field(default=False, init=False)
    _quick: LocalStore | KubernetesConfig | None = field(default=None, init=False)
    _quick_read: bool = field(default=False, init=False)

    @property
    def manifest_file(self) -> Path:
        """The manifest path given, or ``manifest.yaml``."""
        return self.manifest_path or Path(DEFAULT_MANIFEST)

    def manifest(self, *, required: bool = False, strict: bool = False) -> Manifest | None:
        """The manifest; None when it was not asked for, does not exist and is not required."""
        if not self._loaded:
            path = self.manifest_file
            if self.manifest_path is not None or path.exists() or required:
                self._manifest = load_manifest_showing_warnings(
                    path, strict=strict, environment=self.environment
                )
            self._loaded = True
        if required and self._manifest is None:  # pragma: no cover - load raises first
            raise InvalidManifestError(
                "manifest file not found", fix="pass --manifest PATH", path=str(self.manifest_file)
            )
        return self._manifest

    def quick_secrets(self) -> LocalStore | KubernetesConfig | None:
        """The manifest's ``plugins.secrets`` if it is a plain local or k8s one (no schema built).

        ``None`` once the full manifest is loaded, with ``--environment`` or
        ``$FLOE_ENVIRONMENT`` (the full loader checks them against the manifest), with a
        ``--backend`` other than the manifest's, or for any manifest not of the plain shape.
        """
        if not self._quick_read:
            self._quick_read = True
            plain = (
                not self._loaded
                and self.environment is None
                and not os.environ.get("FLOE_ENVIRONMENT")
            )
            self._quick = quick_secrets(self.manifest_file) if plain else None
            if self.backend_option not in (None, self._quick_backend()):
                self._quick = None
        return None if self._loaded else self._quick

    def _quick_backend(self) -> str | None:
        if isinstance(self._quick, LocalStore):
            return LocalSecretsPlugin.name
        if isinstance(self._quick, KubernetesConfig):
            from floe_dagster_secrets.backends.kubernetes import K8sSecretsPlugin

            return K8sSecretsPlugin.name
        return None

    def local_store(self) -> LocalStore | None:
        """The manifest's local store if it is a plain ``type: local`` one (no schema built)."""
        quick = self.quick_secrets()
        return quick if isinstance(quick, LocalStore) else None

    @property
    def namespace(self) -> str:
        """``--namespace``, else the manifest's ``plugins.secrets.namespace``, else floe-jobs."""
        if self.namespace_option is not None:  # never empty: refuse_empty refused that
            return self.namespace_option
        quick = self.quick_secrets()
        if quick is not None:
            return quick.namespace
        manifest = self.manifest()
        return manifest.plugins.secrets.namespace if manifest else DEFAULT_NAMESPACE

    def overrides(self) -> dict[str, Any]:
        """Constructor arguments given on the command line."""
        given = {"store_path": self.store_path, "context": self.context}
        given["kubeconfig"] = self.kubeconfig
        return {_PLUGIN_OPTIONS[k]: v for k, v in given.items() if v is not None}

    def backend_type(self) -> str:
        """``--backend``, else the manifest's ``plugins.secrets.type``."""
        if self.backend_option:
            return self.backend_option
        quick_backend = self._quick_backend() if self.quick_secrets() is not None else None
        if quick_backend is not None:
            return quick_backend
        manifest = self.manifest()
        if manifest is None:
            raise InvalidManifestError(
                f"No manifest at {self.manifest_file} and no --backend given, so floe does not "
                "know where the secrets are",
                fix="run in the directory that holds manifest.yaml, pass --manifest PATH, or "
                "pass --backend local (or k8s)",
                path=str(self.manifest_file),
            )
        return manifest.plugins.secrets.type

    def plugin(self) -> SecretsPlugin:
        """The backend to talk to; command-line options win over the manifest's config.

        The plugin is closed when the click command finishes.
        """
        backend = self.backend_type()
        plugin_class = _backend_class(backend)
        accepted = _accepted_options(plugin_class)
        for option, argument in _PLUGIN_OPTIONS.items():
            if getattr(self, option) is not None and argument not in accepted:
                raise click.UsageError(
                    f"{_OPTION_FLAGS[option]} does not apply to the '{backend}' backend"
                )
        quick = self.quick_secrets()
        make: Callable[..., SecretsPlugin] = plugin_class
        if isinstance(quick, KubernetesConfig):  # as plugin_from_manifest builds it
            plugin = make(**{**quick.backend_kwargs(), **self.overrides()})
        elif isinstance(quick, LocalStore) or (
            plugin_class is LocalSecretsPlugin and not self.manifest_file.exists()
        ):
            path = self.store_path or (quick.path if quick is not None else None)
            plugin = make(path=path) if path else make()  # LocalSecretsPlugin(path=…)
        else:
            from floe_dagster_secrets.backends.factory import plugin_for, plugin_from_manifest

            manifest = self.manifest()
            if manifest is not None and manifest.plugins.secrets.type == backend:
                plugin = plugin_from_manifest(
                    manifest, base_dir=self.manifest_file.parent, **self.overrides()
                )
            else:
                plugin = plugin_for(backend, **self.overrides())
        context = click.get_current_context(silent=True)
        if context is not None:
            context.call_on_close(plugin.close)  # connection pools, API clients
        set_progress = getattr(plugin, "set_progress", None)
        if set_progress is not None:  # waits (ESO's forced sync) report on stderr
            set_progress(lambda line: click.echo(line, err=True))
        return plugin

    def fix_flags(self) -> str:
        """The options the user gave explicitly, to repeat in suggested commands."""
        flags: list[str] = []
        if self.manifest_path is not None:
            flags += ["--manifest", str(self.manifest_path)]
        for option, value in (
            ("--namespace", self.namespace_option),
            ("--backend", self.backend_option),
            ("--store-path", self.store_path),
            ("--context", self.context),
            ("--kubeconfig", self.kubeconfig),
        ):
            if value is not None:
                flags += [option, value]
        return shlex.join(flags)

    def required_secrets(self, *, strict: bool = False) -> list[RequiredSecret]:
        """The manifest's references, each with its policy keys and the dbt adapter's keys."""
        manifest = self.manifest(required=True, strict=strict)
        assert manifest is not None  # noqa: S101 - manifest(required=True) raises instead
        return required_secrets(manifest)


def required_secrets(manifest: Manifest) -> list[RequiredSecret]:
    """Each manifest reference with the keys it must hold.

    The keys are the manifest's policy keys and, for the compute connection secret, the keys the
    dbt adapter needs (``dbt.required_secret_keys``).
    """
    from floe_dagster_secrets.cli.commands import RequiredSecret
    from floe_dagster_secrets.dbt import required_secret_keys

    compute = manifest.plugins.compute
    found = []
    for ref in manifest.secret_references():
        keys = list(ref.required_keys)
        if compute is not None and ref.name == compute.connection_secret_ref:
            keys += required_secret_keys(compute.type, settings=compute.config)
        policy = manifest.secret_policy(ref.name)
        found.append(
            RequiredSecret(
                name=ref.name,
                field_path=ref.field_path,
                keys=tuple(dict.fromkeys(keys)),
                max_age_days=policy.max_age_days,
            )
        )
    return found


def _backend_class(backend: str) -> type[SecretsPlugin]:
    """The plugin class of ``backend``; the built-in local store without an entry-point scan."""
    if backend == LocalSecretsPlugin.name:
        return LocalSecretsPlugin
    from floe_dagster_secrets.backends.registry import load_backend_class

    return load_backend_class(backend)


def _accepted_options(plugin_class: type[SecretsPlugin]) -> frozenset[str]:
    """The keyword arguments ``plugin_class`` takes (as ``backends.factory.accepted_options``)."""
    parameters = inspect.signature(plugin_class).parameters.values()
    return frozenset(
        p.name for p in parameters if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
    )


def refuse_empty(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Refuse ``--namespace ''`` and ``--store-path ''`` instead of silently ignoring them."""
    del ctx
    if value is not None and not value.strip():
        raise click.BadParameter(
            "must not be empty: give a value, or leave the option out to use the default",
            param=param,
        )
    return value


def target_options(command: F) -> F:
    """Add the shared options to a command; it receives them as one ``target: Target``."""
    options = [
        click.option(
            "--manifest",
            "manifest_path",
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            help=f"The manifest to read [default: {DEFAULT_MANIFEST}].",
        ),
        click.option(
            "--namespace",
            "-n",
            "namespace_option",
            default=None,
            callback=refuse_empty,
            help="Namespace of the secrets [default: the manifest's plugins.secrets.namespace, "
            f"else {DEFAULT_NAMESPACE}].",
        ),
        click.option(
            "--backend",
            "backend_option",
            default=None,
            metavar="TYPE",
            help="Secrets backend (local, k8s …) instead of the manifest's plugins.secrets.type.",
        ),
        click.option("--context", default=None, help="kubeconfig context (k8s backend)."),
        click.option(
            "--kubeconfig",
            type=click.Path(dir_okay=False),
            default=None,
            help="kubeconfig file (k8s backend).",
        ),
        click.option(
            "--store-path",
            type=click.Path(file_okay=False),
            default=None,
            callback=refuse_empty,
            help="Directory of the local store (local backend) [default: .floe/secrets].",
        ),
        click.option(
            "--environment",
            "environment",
            default=None,
            metavar="ENV",
            help="The environment the manifest is for, when it has no environment: key [default: "
            "$FLOE_ENVIRONMENT, else manifest.<ENV>.yaml, else the one its secret names embed, "
            "else 'default'].",
        ),
        click.option(
            "--output",
            "-o",
            type=click.Choice(["table", "json"]),
            default="table",
            show_default=True,
            help="Human-readable output or JSON.",
        ),
    ]

    @functools.wraps(command)  # also carries the command's own click parameters (__dict__)
    def wrapper(**kwargs: Any) -> Any:
        target = Target(
            manifest_path=kwargs.pop("manifest_path"),
            namespace_option=kwargs.pop("namespace_option"),
            backend_option=kwargs.pop("backend_option"),
            store_path=kwargs.pop("store_path"),
            context=kwargs.pop("context"),
            kubeconfig=kwargs.pop("kubeconfig"),
            output=kwargs.pop("output"),
            environment=kwargs.pop("environment"),
        )
        return command(target=target, **kwargs)

    decorated: Any = wrapper
    for option in reversed(options):
        decorated = option(decorated)
    return decorated  # type: ignore[no-any-return]
