"""A code location that uses only a secrets resource still gets the run-log access events.

The events' sink used to be installed only by importing :mod:`floe_dagster_secrets.assets`; the
resource's ``setup_for_execution`` installs it now. The job runs in a fresh interpreter (this
test process may have imported the assets package already) on a real Dagster instance
(``DAGSTER_HOME`` with its own storage), and the observation is read back from that instance's
event log, not from the in-process result.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

NAME = "warehouse-dev-credentials"
CANARY = "canary-resource-only-7d1e"

SCRIPT = """
import json, sys
from pathlib import Path

import dagster as dg
from dagster import DagsterEventType

from floe_dagster_secrets.backends.local import LocalSecretsPlugin
from floe_dagster_secrets.resources import LocalSecretsResource

store, name, canary = sys.argv[1], sys.argv[2], sys.argv[3]
LocalSecretsPlugin(path=store).create_secret(name, "floe-jobs", {"API_TOKEN": canary})
imported_before = "floe_dagster_secrets.assets" in sys.modules


@dg.op
def fetch(secrets: LocalSecretsResource) -> int:
    return len(secrets.get_secret(name))


@dg.job
def resource_only() -> None:
    fetch()


instance = dg.DagsterInstance.get()
result = resource_only.execute_in_process(
    instance=instance,
    resources={"secrets": LocalSecretsResource(path=store, namespace="floe-jobs")},
)
records = instance.all_logs(result.run_id, of_type=DagsterEventType.ASSET_OBSERVATION)
seen = [r.dagster_event.asset_observation_data.asset_observation for r in records]
observations = [
    {
        "asset": o.asset_key.to_user_string(),
        "metadata": {k: v.value for k, v in o.metadata.items()},
    }
    for o in seen
]
everything = "\\n".join(str(r) for r in instance.all_logs(result.run_id))
print(json.dumps({
    "success": result.success,
    "imported_before": imported_before,
    "observations": observations,
    "canary_in_log": canary in everything,
}))
"""


def test_a_job_using_only_the_resource_records_the_access_in_its_run_log(tmp_path: Path) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    store = tmp_path / "store"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("FLOE_")},
        "DAGSTER_HOME": str(home),
    }
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(store), NAME, CANARY],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=200,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["success"]
    assert report["imported_before"] is False  # the job never imported the assets package
    [observation] = report["observations"]
    assert observation["asset"] == f"secrets/{NAME}"
    meta = observation["metadata"]
    assert (meta["secret"], meta["backend"], meta["step"], meta["outcome"]) == (
        NAME,
        "local",
        "fetch",
        "ok",
    )
    assert meta["keys"] == "API_TOKEN"
    assert report["canary_in_log"] is False
    assert CANARY not in done.stdout + done.stderr
