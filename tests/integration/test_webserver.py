"""A real ``dagster-webserver`` serving the demo code location: what the UI shows, and no value.

The instance is configured with :class:`~floe_dagster_secrets.secrets_loader.FloeSecretsLoader`,
so the code server starts with the key in its environment (as a sensor's code server would);
the resources hold only the store path. Every GraphQL answer the UI's Resources, Jobs, Assets,
Schedules, Sensors and instance pages are built from is searched for the key in all its encodings.
The rotation sensor and the ``floe_secrets`` asset checks are shown as the UI shows them.
"""

import json
import secrets
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from floe_dagster_secrets.backends.local import LocalSecretsPlugin
from tests.e2e.demo_location import (
    ASSETS,
    JOB,
    KEY,
    LOCATION,
    NAMESPACE,
    SECRET,
    VENV_BIN,
    DemoLocation,
    copy_location,
    text_hits,
)
from tests.servers._process import ManagedProcess, free_port, http_call

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

REPOSITORY = {"repositoryName": "__repository__", "repositoryLocationName": LOCATION}

WORKSPACE = """
{ workspaceOrError { __typename ... on Workspace { locationEntries {
    name loadStatus
    locationOrLoadError { __typename ... on PythonError { message } }
} } } }
"""
RESOURCES = """
query ($repo: RepositorySelector!) {
  allTopLevelResourceDetailsOrError(repositorySelector: $repo) {
    __typename
    ... on ResourceDetailsList { results {
      name resourceType description
      configuredValues { key value type }
      configFields { name isRequired isSecret defaultValueAsJson description }
      assetKeysUsing { path }
      jobsOpsUsing { jobName }
    } }
    ... on PythonError { message }
  }
}
"""
SCHEDULES = """
query ($repo: RepositorySelector!) {
  schedulesOrError(repositorySelector: $repo) {
    __typename
    ... on Schedules { results { name cronSchedule pipelineName scheduleState { status } } }
    ... on PythonError { message }
  }
}
"""
SENSORS = """
query ($repo: RepositorySelector!) {
  sensorsOrError(repositorySelector: $repo) {
    __typename
    ... on Sensors { results {
      name description minIntervalSeconds defaultStatus
      targets { pipelineName }
      sensorState { status }
    } }
    ... on PythonError { message }
  }
}
"""
ASSET_CHECKS = """
query ($repo: RepositorySelector!) {
  repositoryOrError(repositorySelector: $repo) {
    __typename
    ... on Repository {
      assetNodes {
        assetKey { path }
        assetChecksOrError {
          __typename ... on AssetChecks { checks { name description jobNames } }
        }
      }
    }
    ... on PythonError { message }
  }
}
"""
REPOSITORY_QUERY = """
query ($repo: RepositorySelector!) {
  repositoryOrError(repositorySelector: $repo) {
    __typename
    ... on Repository {
      jobs { name }
      assetNodes {
        assetKey { path }
        metadataEntries { label ... on TextMetadataEntry { text } }
      }
    }
    ... on PythonError { message }
  }
}
"""
JOB_RESOURCES = """
query ($job: PipelineSelector!) {
  resourcesOrError(pipelineSelector: $job) {
    __typename
    ... on ResourceConnection { resources {
      name description configField { name defaultValueAsJson configTypeKey }
    } }
  }
}
"""
ENV_VARS = """
query ($repo: RepositorySelector!) {
  utilizedEnvVarsOrError(repositorySelector: $repo) {
    __typename ... on EnvVarWithConsumersList { results { envVarName } }
  }
}
"""
INSTANCE = "{ instance { info } }"


class Webserver:
    """``dagster-webserver -w workspace.yaml`` on a free loopback port, and a GraphQL client."""

    def __init__(self, location: DemoLocation, log_file: Path) -> None:
        self.port = free_port()
        self.process = ManagedProcess(
            "dagster-webserver",
            [
                str(VENV_BIN / "dagster-webserver"),
                "-w",
                str(location.root / "workspace.yaml"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
            ],
            log_file=log_file,
            env=location.env(),
            cwd=location.root,
        )
        self.answers: list[str] = []

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def graphql(self, query: str, **variables: Any) -> dict[str, Any]:
        request = urllib.request.Request(  # noqa: S310 - a loopback URL built here
            self.url("/graphql"),
            data=json.dumps({"query": query, "variables": variables}).encode(),
            headers={"Content-Type": "application/json"},
        )
        status, body = http_call(request, timeout=60)
        text = body.decode()
        self.answers.append(text)
        assert status == 200, text
        document = json.loads(text)
        assert "errors" not in document, document["errors"]
        data: dict[str, Any] = document["data"]
        return data

    def location_loaded(self) -> bool:
        entries = self.graphql(WORKSPACE)["workspaceOrError"]["locationEntries"]
        (entry,) = entries
        if entry["loadStatus"] != "LOADED":
            return False
        assert entry["locationOrLoadError"]["__typename"] == "RepositoryLocation", entry
        return True


@contextmanager
def running_webserver(tmp_path: Path, *, key: str | None) -> Iterator[Webserver]:
    """A webserver over a private copy of the location whose instance loads ``SECRET``.

    With ``key`` None the secret is not created, so the instance's secrets loader fails.
    """
    location = copy_location(tmp_path)
    if key is not None:
        LocalSecretsPlugin(path=location.store).create_secret(SECRET, NAMESPACE, {KEY: key})
    instance_config = {
        "telemetry": {"enabled": False},
        "secrets": {
            "custom": {
                "module": "floe_dagster_secrets.secrets_loader",
                "class": "FloeSecretsLoader",
                "config": {
                    "backend": "local",
                    "backend_config": {"path": str(location.store)},
                    "namespace": NAMESPACE,
                    "secrets": [SECRET],
                    "prefix": "DBT_ENV_SECRET_",
                    "locations": [LOCATION],
                },
            }
        },
    }
    (location.home / "dagster.yaml").write_text(yaml.safe_dump(instance_config))
    server = Webserver(location, tmp_path / "webserver.log")
    server.process.start()
    try:
        server.process.wait_ready(
            lambda: http_call(server.url("/server_info"))[0] == 200, timeout=90, interval=0.5
        )
        yield server
    finally:
        server.process.stop()


def test_ui_lists_resources_job_schedule_and_assets_without_the_key(tmp_path: Path) -> None:
    canary = f"canary{secrets.token_urlsafe(24)}"
    with running_webserver(tmp_path, key=canary) as server:
        server.process.wait_ready(server.location_loaded, timeout=150, interval=1)
        _check_ui(server, canary)


def _check_ui(server: Webserver, canary: str) -> None:

    resources = server.graphql(RESOURCES, repo=REPOSITORY)["allTopLevelResourceDetailsOrError"]
    assert resources["__typename"] == "ResourceDetailsList", resources
    by_name = {r["name"]: r for r in resources["results"]}
    assert {"dbt", "secrets"} <= set(by_name)
    secrets_resource = by_name["secrets"]
    assert secrets_resource["resourceType"].endswith("LocalSecretsResource")
    configured = {v["key"]: v["value"] for v in secrets_resource["configuredValues"]}
    assert json.loads(configured["namespace"]) == NAMESPACE
    assert json.loads(configured["path"]).endswith("definitions/.floe/secrets")
    assert all(field["description"] for field in secrets_resource["configFields"])
    assert JOB in {use["jobName"] for use in secrets_resource["jobsOpsUsing"]}

    schedules = server.graphql(SCHEDULES, repo=REPOSITORY)["schedulesOrError"]
    assert [(s["name"], s["cronSchedule"], s["pipelineName"]) for s in schedules["results"]] == [
        ("floe_demo_daily", "0 6 * * *", JOB)
    ]

    repository = server.graphql(REPOSITORY_QUERY, repo=REPOSITORY)["repositoryOrError"]
    assert JOB in {job["name"] for job in repository["jobs"]}
    assets = {
        "/".join(node["assetKey"]["path"]): {
            e["label"]: e.get("text") for e in node["metadataEntries"]
        }
        for node in repository["assetNodes"]
    }
    assert "customer_lifetime_value" in assets
    assert assets["customer_lifetime_value"]["floe/secrets"] == SECRET

    job_resources = server.graphql(JOB_RESOURCES, job={**REPOSITORY, "pipelineName": JOB})[
        "resourcesOrError"
    ]
    assert {"dbt", "secrets"} <= {r["name"] for r in job_resources["resources"]}

    sensors = server.graphql(SENSORS, repo=REPOSITORY)["sensorsOrError"]
    assert sensors["__typename"] == "Sensors", sensors
    (sensor,) = sensors["results"]
    assert sensor["name"] == "floe_secret_rotation"
    assert [t["pipelineName"] for t in sensor["targets"]] == [JOB]
    assert (sensor["defaultStatus"], sensor["sensorState"]["status"]) == ("STOPPED", "STOPPED")
    assert sensor["minIntervalSeconds"] == 60
    assert "rotated" in sensor["description"]

    nodes = server.graphql(ASSET_CHECKS, repo=REPOSITORY)["repositoryOrError"]["assetNodes"]
    floe_checks = {
        "/".join(node["assetKey"]["path"]): check
        for node in nodes
        for check in node["assetChecksOrError"]["checks"]
        if check["name"] == "floe_secrets"
    }
    assert set(floe_checks) == ASSETS
    for check in floe_checks.values():
        assert check["description"] == (f"Secrets {SECRET} exist, hold their keys and are fresh")
        assert JOB in check["jobNames"]

    server.graphql(ENV_VARS, repo=REPOSITORY)
    server.graphql(INSTANCE)

    leaks = {i: text_hits(canary, answer) for i, answer in enumerate(server.answers)}
    assert {i: hits for i, hits in leaks.items() if hits} == {}
    assert text_hits(canary, server.process.log_file.read_text(errors="replace")) == []


def test_code_server_does_not_load_when_the_loader_cannot_find_its_secret(tmp_path: Path) -> None:
    """The loader really runs in the code server: a missing secret is our error in the UI."""
    with running_webserver(tmp_path, key=None) as server:

        def settled() -> bool:
            (entry,) = server.graphql(WORKSPACE)["workspaceOrError"]["locationEntries"]
            return bool(entry["loadStatus"] == "LOADED")

        server.process.wait_ready(settled, timeout=150, interval=1)
        (entry,) = server.graphql(WORKSPACE)["workspaceOrError"]["locationEntries"]

    error = entry["locationOrLoadError"]
    assert error["__typename"] == "PythonError", entry
    assert f"Secret '{SECRET}' does not exist" in error["message"]
    assert "Fix:" in error["message"]
