"""Secret → the assets, jobs and schedules of a code location that depend on it.

The manifest knows which assets a policy names (``secrets.<name>.assets``), but only the code
location knows the assets' ``floe/secrets`` metadata and which jobs select them and which
schedules run those jobs. ``floe secrets status --assets --definitions MODULE`` loads the
``Definitions`` and asks this module; the sensor uses the same asset index
(:class:`~floe_dagster_secrets.sensors.rotation.SecretDependents`), so what ``status`` lists is
what a rotation re-materializes.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from dagster import Definitions

from floe_dagster_secrets.errors import InvalidSecretReferenceError
from floe_dagster_secrets.sensors.rotation import SecretDependents

IMPLICIT_JOB_PREFIX = "__ASSET_JOB"  # Dagster's hidden all-assets job(s), not a user's job


@dataclass(frozen=True)
class SecretConsumers:
    """What depends on one secret in a code location, by name, each sorted."""

    assets: tuple[str, ...] = ()
    jobs: tuple[str, ...] = ()
    schedules: tuple[str, ...] = ()

    def to_json(self) -> dict[str, list[str]]:
        """The three lists, for ``-o json``."""
        return {
            "assets": list(self.assets),
            "jobs": list(self.jobs),
            "schedules": list(self.schedules),
        }


def consumers_by_secret(
    defs: Definitions,
    secrets: Iterable[str],
    extra: Mapping[str, Iterable[str]] = {},
) -> dict[str, SecretConsumers]:
    """For each of ``secrets``: its dependent assets, the jobs selecting one, their schedules.

    Args:
        defs: The code location's definitions.
        secrets: Secret names to report (the manifest's references), in the order to report.
        extra: Manifest ``secrets.<name>.assets``, added to the assets' own metadata.
    """
    repo = defs.get_repository_def()
    index = SecretDependents.from_assets(repo.asset_graph.assets_defs, extra)
    selections = {
        job.name: job.asset_layer.selected_asset_keys
        for job in repo.get_all_jobs()
        if not job.name.startswith(IMPLICIT_JOB_PREFIX)
    }
    schedules = [(schedule.name, schedule.job_name) for schedule in repo.schedule_defs]
    found: dict[str, SecretConsumers] = {}
    for secret in secrets:
        keys = set(index.assets.get(secret, ()))
        jobs = sorted(name for name, selected in selections.items() if keys & set(selected))
        found[secret] = SecretConsumers(
            assets=tuple(sorted(k.to_user_string() for k in keys)),
            jobs=tuple(jobs),
            schedules=tuple(sorted(name for name, job in schedules if job in jobs)),
        )
    return found


def _import(reference: str, base_dir: Path) -> ModuleType:
    """``pkg.module`` or ``path/to/file.py``; ``base_dir`` goes on ``sys.path`` for its imports.

    A file is loaded under a private module name, so ``definitions/definitions.py`` cannot
    shadow the ``definitions`` package it imports from.
    """
    if str(base_dir) not in sys.path:
        sys.path.insert(0, str(base_dir))
    if not reference.endswith(".py"):
        return importlib.import_module(reference)
    path = (base_dir / reference).resolve()
    spec = importlib.util.spec_from_file_location("_floe_code_location", path)
    if spec is None or spec.loader is None or not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_definitions(reference: str, base_dir: Path) -> Definitions:
    """The ``Definitions`` named by ``module[:attribute]`` or ``file.py[:attribute]``.

    Without an attribute, the module's one ``Definitions`` object is used.

    Raises:
        InvalidSecretReferenceError: the module cannot be imported, or holds no (or several)
            ``Definitions`` and no attribute was named.
    """
    target, _, attribute = reference.partition(":")
    fix = (
        "pass --definitions as a module importable from the current directory "
        "(definitions.definitions) or a file (definitions/definitions.py), optionally with "
        ":ATTRIBUTE (e.g. :defs)"
    )
    try:
        module = _import(target, base_dir)
    except Exception as e:  # user code: any error while importing it is reported, not raised
        raise InvalidSecretReferenceError(
            f"Cannot load the code location {target!r}: {type(e).__name__}: {e}", fix=fix
        ) from e
    candidates: dict[str, Any] = (
        {attribute: getattr(module, attribute, None)}
        if attribute
        else {n: v for n, v in vars(module).items() if isinstance(v, Definitions)}
    )
    found = [(n, v) for n, v in candidates.items() if isinstance(v, Definitions)]
    if len(found) != 1:
        what = (
            f"attribute {attribute!r} is not a Definitions"
            if attribute
            else (f"{len(found)} Definitions objects ({', '.join(n for n, _ in found) or 'none'})")
        )
        raise InvalidSecretReferenceError(
            f"Code location {target!r}: {what}", fix=f"name the one to use with {target}:NAME"
        )
    return found[0][1]
