"""The demo's Dagster instance (``DAGSTER_HOME/dagster.yaml``), the one place it is written.

``tools/demo.py``, the benchmarks and the tests that run the demo job all write it here, so they
run the instance a user gets. Besides storage and logging, it configures
:class:`~floe_dagster_secrets.secrets_loader.FloeSecretsLoader` for the ``floe_demo`` code location
only: when Dagster starts that location's code server or a run worker, the loader reads the
compute connection secret (and only that one) from the store ``manifest.yaml`` names and puts
each key into the process environment as ``DBT_ENV_SECRET_<KEY>`` — what ``envFrom`` with that
prefix gives a Job pod of ``FloeK8sRunLauncher``, whose instance has no loader. The dbt step only
reads those variables (``defs/warehouse/transform/dbt_assets.py``). The file names the secret
and where the store is, never a value: Dagster serialises it into every run worker's arguments.

A missing or unreadable secret now stops the code location from loading, with the backend's
error (which names the secret, the namespace, the backend and the fix), rather than failing the
dbt step later.

The value is the one read when the process started, as with ``envFrom``. Dagster starts a run of
a local code server in a child of that server, which inherits its environment without calling
the loader again: after ``floe secrets rotate``, reload the location (the UI's "Reload", or
restart ``dagster dev``) before the next run there. ``tools/demo.py`` starts a new code server
for every run, and a Job pod reads its ``envFrom`` when it starts.
"""

from pathlib import Path
from typing import Any

import yaml

from floe_dagster_secrets.dbt import SECRET_ENV_PREFIX
from floe_dagster_secrets.manifest import load_manifest
from floe_dagster_secrets.resources import secrets_resource_from_manifest

# definitions/manifest.yaml (as floe_demo.project names it; not imported from there, which
# imports dagster-dbt and dbt: this module serves tools and tests that never load the location)
MANIFEST_PATH = Path(__file__).resolve().parents[2] / "manifest.yaml"

LOCATION_NAME = "floe_demo"
"""The code location's name in ``workspace.yaml``; the loader serves no other location."""


def secrets_loader_config(manifest_path: Path = MANIFEST_PATH) -> dict[str, Any]:
    """``secrets:`` of ``dagster.yaml``: the loader for the manifest's connection secret.

    Relative store paths in the manifest are resolved against the manifest's directory, so the
    loader reads the same store whatever directory Dagster starts a process in.
    """
    manifest = load_manifest(manifest_path)
    secret = manifest.plugins.compute.connection_secret_ref
    if not secret:
        raise ValueError(f"{manifest_path} names no plugins.compute.connection_secret_ref")
    resource = secrets_resource_from_manifest(manifest, base_dir=manifest_path.parent)
    return {
        "custom": {
            "module": "floe_dagster_secrets.secrets_loader",
            "class": "FloeSecretsLoader",
            "config": {
                "backend": resource.backend,
                "backend_config": resource.backend_kwargs(),
                "namespace": resource.namespace,
                "secrets": [secret],
                "prefix": SECRET_ENV_PREFIX,
                "locations": [LOCATION_NAME],
            },
        }
    }


def instance_config(
    home: Path, *, manifest_path: Path = MANIFEST_PATH, redacting_storage: bool = True
) -> dict[str, Any]:
    """The demo instance's ``dagster.yaml`` as a mapping.

    Args:
        home: The instance directory (``DAGSTER_HOME``); storage goes under ``home/storage``.
        manifest_path: The demo's ``manifest.yaml`` (a test's copy of the location has its own).
        redacting_storage: Store events and run tags through floe's ``RedactingStorage``
            (SQLite); ``False`` leaves Dagster's default SQLite storage.
    """
    config: dict[str, Any] = {"telemetry": {"enabled": False}}
    if redacting_storage:  # events and run tags are stored with secret values redacted
        config["storage"] = {
            "custom": {
                "module": "floe_dagster_secrets.storage",
                "class": "RedactingStorage",
                "config": {"sqlite": {"base_dir": str(home / "storage")}},
            }
        }
    # launch at once (the queued default needs a running daemon)
    config["run_coordinator"] = {
        "module": "dagster.core.run_coordinator",
        "class": "DefaultRunCoordinator",
    }
    # floe's audit trail (names, versions, never values) in the run's log
    config["python_logs"] = {"managed_python_loggers": ["floe.audit"], "python_log_level": "INFO"}
    config["secrets"] = secrets_loader_config(manifest_path)
    return config


def write_instance_config(home: Path, **options: Any) -> Path:
    """Write ``home/dagster.yaml``; return ``home``.

    Rewritten every time, so an older home gets today's settings. ``options`` are
    :func:`instance_config`'s.
    """
    home.mkdir(parents=True, exist_ok=True)
    config = instance_config(home, **options)
    (home / "dagster.yaml").write_text(
        "# The floe demo's instance, written by floe_demo.instance (names only, never values).\n"
        + yaml.safe_dump(config, sort_keys=False)
    )
    return home
