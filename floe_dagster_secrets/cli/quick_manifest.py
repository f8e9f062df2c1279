"""Where the secrets are, read from a plain manifest without building the manifest's schema.

``floe secrets list`` otherwise spends most of its time importing pydantic and building the
manifest models (about 0.2 s of CPU, more than everything else it does on the local store), only
to learn ``plugins.secrets.type``, ``namespace`` and ``config``. This reads just those from a
manifest of the plain shape, for the two backends whose config is a few plain strings — the local
store (``config.path``) and Kubernetes (``config.kubeconfig``, ``config.context``) — and gives up
(``None``: the full loader decides, with all its checks and messages) on anything else: another
backend, ``type`` left to its default, an unknown key in the config, a value of the wrong type or
form, YAML anchors, aliases or merge keys, Jinja, a file that is not a small regular file, or
text that is not YAML. It never rejects a manifest; the whole manifest is still checked by
``floe secrets validate`` and by every command that needs more of it.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from floe_dagster_secrets.backends.local import LocalSecretsPlugin
from floe_dagster_secrets.kube.names import is_dns1123_label

DEFAULT_NAMESPACE = "floe-jobs"
DEFAULT_STORE = ".floe/secrets"
_MAX_BYTES = 64 * 1024  # a plain manifest is a few hundred bytes; larger ones take the full path
_NOT_PLAIN = ("&", "*", "<<", "{{", "{%", "{#", "!")  # anchors, aliases, merges, Jinja, tags


@dataclass(frozen=True)
class KubernetesConfig:
    """``plugins.secrets`` of a manifest whose backend is Kubernetes Secrets."""

    namespace: str
    kubeconfig: str | None = None
    """As written (not resolved against the manifest's folder: the full loader does not either)."""
    context: str | None = None

    def backend_kwargs(self) -> dict[str, str]:
        """Constructor arguments of ``K8sSecretsPlugin``, as ``K8sSecretsConfig`` gives them."""
        return {k: v for k, v in (("kubeconfig", self.kubeconfig), ("context", self.context)) if v}


@dataclass(frozen=True)
class LocalStore:
    """``plugins.secrets`` of a manifest whose backend is the local store."""

    namespace: str
    path: str
    """The store directory, resolved against the manifest's folder as the full loader does."""


def quick_secrets(manifest: Path) -> LocalStore | KubernetesConfig | None:
    """``plugins.secrets`` of a plain local or Kubernetes manifest; ``None``: the full loader."""
    found = _plain_secrets(manifest)
    if found is None:
        return None
    backend, namespace, config = found
    if backend == LocalSecretsPlugin.name:
        return _local_store(manifest, namespace, config)
    from floe_dagster_secrets.backends.kubernetes import K8sSecretsPlugin

    if backend != K8sSecretsPlugin.name or set(config) - {"kubeconfig", "context"}:
        return None
    values = {key: config.get(key) for key in ("kubeconfig", "context")}
    for value in values.values():  # K8sSecretsConfig: a non-empty string, or absent/null
        if value is not None and not (isinstance(value, str) and value):
            return None
    return KubernetesConfig(namespace=namespace, **values)


def local_store(manifest: Path) -> LocalStore | None:
    """The local store a plain ``type: local`` manifest names; ``None`` to use the full loader."""
    found = quick_secrets(manifest)
    return found if isinstance(found, LocalStore) else None


def _plain_secrets(manifest: Path) -> tuple[str, str, dict[Any, Any]] | None:
    """``plugins.secrets``' type, namespace and config, if the manifest has the plain shape."""
    text = _small_regular_file(manifest)
    if text is None or any(mark in text for mark in _NOT_PLAIN):
        return None
    data = _yaml(text)
    plugins = data.get("plugins") if isinstance(data, dict) else None
    secrets = plugins.get("secrets") if isinstance(plugins, dict) else None
    if not isinstance(secrets, dict) or not isinstance(secrets.get("type"), str):
        return None
    if set(secrets) - {"type", "namespace", "config"}:
        return None
    namespace = secrets.get("namespace", DEFAULT_NAMESPACE)
    if not is_dns1123_label(namespace):
        return None
    config = secrets.get("config") or {}
    if not isinstance(config, dict):
        return None
    return secrets["type"], namespace, config


def _local_store(manifest: Path, namespace: str, config: dict[Any, Any]) -> LocalStore | None:
    if set(config) - {"path"}:
        return None
    path = config.get("path", DEFAULT_STORE)
    if not isinstance(path, str) or not path.strip():
        return None
    if not Path(path).is_absolute():
        path = str(Path(manifest.parent, path).absolute())
    return LocalStore(namespace=namespace, path=path)


def _small_regular_file(path: Path) -> str | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > _MAX_BYTES:
            return None
        raw = os.read(fd, _MAX_BYTES + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _yaml(text: str) -> Any:
    """The document, or ``None`` when it is not YAML or repeats a key in any mapping.

    PyYAML keeps the last of two equal keys silently; the full loader refuses them, so a
    manifest that repeats one must go there rather than be read here with the last value.
    """
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        node = yaml.compose(text, Loader=loader)
        if node is None or _repeats_a_key(node):
            return None
        return yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader, chosen above
    except (yaml.YAMLError, RecursionError):
        return None


def _repeats_a_key(root: Any) -> bool:
    import yaml

    pending = [root]
    while pending:
        node = pending.pop()
        if isinstance(node, yaml.MappingNode):
            keys = [key.value for key, _ in node.value if isinstance(key, yaml.ScalarNode)]
            if len(keys) != len(set(keys)):
                return True
            pending.extend(value for _, value in node.value)
        elif isinstance(node, yaml.SequenceNode):
            pending.extend(node.value)
    return False
