"""No module outside a backend's folder imports that backend's private modules.

Each backend is one folder under ``floe_dagster_secrets/backends/`` whose ``__init__`` is its
public surface; code elsewhere (the launcher, sensors, CLI, resources, another backend) imports
``floe_dagster_secrets.backends.<name>`` only, or asks a capability of
:mod:`floe_dagster_secrets.backends.base`. This walks every module's imports (``import``,
``from … import``, also inside functions) and fails naming each one that reaches inside.
"""

from __future__ import annotations

import ast
from pathlib import Path

import floe_dagster_secrets

PACKAGE = Path(floe_dagster_secrets.__file__).parent
BACKENDS = PACKAGE / "backends"
BACKEND_FOLDERS = sorted(p.name for p in BACKENDS.iterdir() if (p / "__init__.py").is_file())


def _imported(node: ast.AST) -> list[str]:
    """Dotted names an import node brings in (``from a import b``: ``a`` and ``a.b``)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom) and node.module:
        return [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
    return []


def _reaches_inside(dotted: str, own: str | None) -> str | None:
    """The backend whose private module ``dotted`` is, unless it is ``own``'s."""
    parts = dotted.split(".")
    if parts[:2] != ["floe_dagster_secrets", "backends"] or len(parts) < 4:
        return None
    backend, module = parts[2], parts[3]
    if backend not in BACKEND_FOLDERS or backend == own:
        return None
    is_module = (BACKENDS / backend / f"{module}.py").is_file()
    return backend if is_module else None


def test_backends_are_found() -> None:
    assert {"local", "kubernetes", "vault", "eso"} <= set(BACKEND_FOLDERS)


def test_no_module_imports_another_backends_private_modules() -> None:
    offenders: set[str] = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        own = (
            relative.parts[1]
            if relative.parts[0] == "backends" and len(relative.parts) > 2
            else None
        )
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            for dotted in _imported(node):
                backend = _reaches_inside(dotted, own)
                if backend is not None:
                    where = f"{relative}:{node.lineno}"  # type: ignore[attr-defined]
                    offenders.add(f"{where} imports {'.'.join(dotted.split('.')[:4])}")
    assert not offenders, (
        "import these through the backend's __init__ (add them to its public surface) or a "
        "capability in backends/base.py:\n" + "\n".join(sorted(offenders))
    )


BACKEND_NAMES = {"local", "k8s", "kubernetes", "vault", "external-secrets", "eso"}
"""The built-in backends' entry-point names, and the words code used for them."""
NOT_A_BACKEND = {
    ("cli/app.py", "eso"): "the `floe secrets eso` command group's name",
    ("manifest/secrets_config.py", "vault"): "ESO's provider named vault (a ClusterSecretStore)",
}
"""String constants equal to a backend's name that do not mean the backend, with why."""


def _backend_words(node: ast.AST) -> list[str]:
    """Backend names a comparison, ``match`` case or dict literal tests or keys on."""
    found: list[ast.expr] = []
    if isinstance(node, ast.Compare):
        for side in [node.left, *node.comparators]:
            found += side.elts if isinstance(side, ast.Tuple | ast.List | ast.Set) else [side]
    elif isinstance(node, ast.Dict):
        found += [key for key in node.keys if key is not None]
    elif isinstance(node, ast.MatchValue):
        found.append(node.value)
    return [
        e.value
        for e in found
        if isinstance(e, ast.Constant) and isinstance(e.value, str) and e.value in BACKEND_NAMES
    ]


def test_no_module_outside_a_backend_tests_a_backend_name() -> None:
    offenders: list[str] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] == "backends" and len(relative.parts) > 2:
            continue  # a backend's own folder may name itself
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            for word in _backend_words(node):
                if (relative.as_posix(), word) not in NOT_A_BACKEND:
                    where = f"{relative}:{node.lineno}"  # type: ignore[attr-defined]
                    offenders.append(f"{where} tests the backend name {word!r}")
    assert not offenders, (
        "ask a capability or a declaration of the plugin class (backends/base.py: label, "
        "version_source, pod_reads_kubernetes_secrets, kubernetes_rules, no_restart_reason …) "
        "instead:\n" + "\n".join(offenders)
    )
