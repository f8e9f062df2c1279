"""``FloeK8sRunLauncher`` as a drop-in for ``K8sRunLauncher`` (issue 20 (a) (b) (c)); no server.

(a) nothing the user did not configure is added to a pod (no dbt profiles volume without a
manifest or an explicit ConfigMap); (b) a service account the user set is honoured, or the run
is refused before any Job when the backend cannot work with it; (c) API objects the caller
passes in are used as given.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dagster import DagsterInstance, DagsterRun, DagsterRunStatus, job, op
from dagster._core.definitions.reconstruct import ReconstructableJob
from dagster._core.launcher import LaunchRunContext
from dagster._core.test_utils import create_run_for_test, instance_for_test
from dagster_k8s.container_context import K8sContainerContext
from kubernetes import client as k8s

from floe_dagster_secrets.launcher import FloeK8sRunLauncher
from floe_dagster_secrets.launcher import _dagster_k8s_internals as internals
from floe_dagster_secrets.launcher.pod_env import PROFILES_VOLUME, SECRET_REFS_TAG

REPO = Path(__file__).resolve().parents[3]
DEMO_MANIFEST = REPO / "definitions" / "manifest.yaml"

VAULT_MANIFEST = """\
environment: prod
plugins:
  secrets:
    type: vault
    namespace: floe-jobs
    config:
      address: https://vault.example:8200
      role: floe-runner
  compute:
    type: postgres
    connection_secret_ref: warehouse-prod-credentials
    config: {host: db, database: d, port: 5432}
"""


@op
def touch() -> None:
    pass


@job
def drop_in_job() -> None:
    touch()


@pytest.fixture
def kubeconfig(tmp_path: Path) -> Path:
    """A kubeconfig whose server nothing listens on: no test here reaches an apiserver."""
    path = tmp_path / "kubeconfig"
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
                "users": [{"name": "u", "user": {"token": "not-a-real-token"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    return path


@pytest.fixture
def vault_manifest(tmp_path: Path) -> Path:
    path = tmp_path / "manifest.yaml"
    path.write_text(VAULT_MANIFEST)
    return path


def _launcher_config(kubeconfig: Path, **extra: Any) -> dict[str, Any]:
    return {
        "module": "floe_dagster_secrets.launcher",
        "class": "FloeK8sRunLauncher",
        "config": {
            "instance_config_map": "dagster-instance",
            "dagster_home": "/opt/dagster/dagster_home",
            "job_image": "img:1",
            "load_incluster_config": False,
            "kubeconfig_file": str(kubeconfig),
            "job_namespace": "floe-jobs",
            **extra,
        },
    }


@pytest.fixture
def make_launcher(kubeconfig: Path) -> Iterator[Any]:
    """``make_launcher(**config)``: our launcher as ``dagster.yaml`` builds it, and its instance."""
    instances: list[Any] = []

    def make(**extra: Any) -> tuple[FloeK8sRunLauncher, DagsterInstance]:
        cm = instance_for_test(overrides={"run_launcher": _launcher_config(kubeconfig, **extra)})
        instance = cm.__enter__()
        instances.append(cm)
        launcher = instance.run_launcher
        assert isinstance(launcher, FloeK8sRunLauncher)
        return launcher, instance

    yield make
    for cm in reversed(instances):
        cm.__exit__(None, None, None)


def _run(*refs: str, tag: dict[str, Any] | None = None, origin: Any = None) -> DagsterRun:
    tags = {SECRET_REFS_TAG: ",".join(refs)} if refs else {}
    if tag is not None:
        tags["dagster-k8s/config"] = json.dumps(tag)
    return DagsterRun(job_name="drop_in_job", tags=tags, job_code_origin=origin)


def _pod(context: K8sContainerContext) -> tuple[dict[str, Any], dict[str, Any]]:
    config = context.run_k8s_config
    return dict(config.container_config), dict(config.pod_spec_config)


def _origin_with_container_context(container_context: dict[str, Any]) -> Any:
    origin = ReconstructableJob.for_file(__file__, "drop_in_job").get_python_origin()
    repository = origin.repository_origin._replace(container_context=container_context)
    return origin._replace(repository_origin=repository)


# --- (a) nothing the user did not configure -------------------------------------------------


def test_no_manifest_no_profiles_config_map_adds_no_volume_no_env_no_account(
    make_launcher: Any,
) -> None:
    launcher, _ = make_launcher(platform_secrets=["api-x-secret"])
    container, pod = _pod(launcher.get_container_context_for_run(_run("api-x-secret")))
    assert container.get("env_from") == [{"secret_ref": {"name": "api-x-secret"}}]
    assert "volume_mounts" not in container
    assert not any(e["name"] == "DBT_PROFILES_DIR" for e in container.get("env", []))
    assert "volumes" not in pod
    assert "service_account_name" not in pod


def test_step_pods_get_no_profiles_volume_either(make_launcher: Any) -> None:
    """``floe_k8s_job_executor``'s step handler merges ``with_secrets``, the same function."""
    launcher, _ = make_launcher(platform_secrets=["api-x-secret"])
    step = launcher.with_secrets(
        K8sContainerContext(), launcher.floe.contribution(["api-x-secret"])
    )
    container, pod = _pod(step)
    assert container == {"env_from": [{"secret_ref": {"name": "api-x-secret"}}]}
    assert pod == {}


def test_explicit_profiles_config_map_is_mounted_without_a_manifest(make_launcher: Any) -> None:
    launcher, _ = make_launcher(dbt_profiles_config_map="my-profiles")
    container, pod = _pod(launcher.get_container_context_for_run(_run()))
    assert {"name": "DBT_PROFILES_DIR", "value": "/opt/floe/dbt-profiles"} in container["env"]
    assert pod["volumes"] == [{"name": PROFILES_VOLUME, "config_map": {"name": "my-profiles"}}]


def test_a_manifest_implies_the_profiles_config_map_null_turns_it_off(make_launcher: Any) -> None:
    implied, _ = make_launcher(manifest_path=str(DEMO_MANIFEST))
    _, pod = _pod(implied.get_container_context_for_run(_run()))
    assert pod["volumes"] == [{"name": PROFILES_VOLUME, "config_map": {"name": "dbt-profiles"}}]
    off, _ = make_launcher(manifest_path=str(DEMO_MANIFEST), dbt_profiles_config_map=None)
    container, pod = _pod(off.get_container_context_for_run(_run()))
    assert "volumes" not in pod
    assert "env" not in container


# --- (b) the user's service account -----------------------------------------------------------


@pytest.mark.parametrize(
    ("launcher_account", "tag_account", "expected"),
    [
        ("launcher-runner", None, "launcher-runner"),
        ("launcher-runner", "tag-runner", "tag-runner"),
        (None, "tag-runner", "tag-runner"),
    ],
)
def test_a_service_account_the_user_set_is_kept(
    make_launcher: Any, launcher_account: str | None, tag_account: str | None, expected: str
) -> None:
    extra = {"service_account_name": launcher_account} if launcher_account else {}
    launcher, _ = make_launcher(manifest_path=str(DEMO_MANIFEST), **extra)
    tag = {"pod_spec_config": {"service_account_name": tag_account}} if tag_account else None
    _, pod = _pod(launcher.get_container_context_for_run(_run("duckdb-dev-credentials", tag=tag)))
    assert pod["service_account_name"] == expected


def test_the_code_locations_container_context_account_is_kept(make_launcher: Any) -> None:
    launcher, _ = make_launcher(service_account_name="launcher-runner")
    origin = _origin_with_container_context({"k8s": {"service_account_name": "location-runner"}})
    _, pod = _pod(launcher.get_container_context_for_run(_run(origin=origin)))
    assert pod["service_account_name"] == "location-runner"


def test_vault_sets_the_account_its_role_is_bound_to_only_when_none_is_set(
    make_launcher: Any, vault_manifest: Path
) -> None:
    launcher, _ = make_launcher(manifest_path=str(vault_manifest))
    container, pod = _pod(
        launcher.get_container_context_for_run(_run("warehouse-prod-credentials"))
    )
    assert pod["service_account_name"] == "floe-job-runner"
    assert "env_from" not in container  # Vault-backed: no Kubernetes Secret referenced
    assert {"name": "FLOE_VAULT_AUTH_ROLE", "value": "floe-runner"} in container["env"]
    ours, _ = make_launcher(manifest_path=str(vault_manifest), service_account_name="team-runner")
    _, pod = _pod(ours.get_container_context_for_run(_run("warehouse-prod-credentials")))
    assert pod["service_account_name"] == "team-runner"


def _launch(launcher: FloeK8sRunLauncher, instance: DagsterInstance, **tags: str) -> str:
    origin = ReconstructableJob.for_file(__file__, "drop_in_job").get_python_origin()
    run = create_run_for_test(instance, job_name="drop_in_job", job_code_origin=origin, tags=tags)
    launcher.launch_run(LaunchRunContext(dagster_run=run, workspace=None))
    stored = instance.get_run_by_id(run.run_id)
    assert stored is not None
    assert stored.status == DagsterRunStatus.FAILURE
    return "\n".join(str(e.message) for e in instance.all_logs(run.run_id))


def test_vault_refuses_another_account_from_the_run_tag_before_any_job(
    make_launcher: Any, vault_manifest: Path
) -> None:
    """Refused, not replaced and not launched: the kubeconfig points nowhere, so a Job creation
    attempt would fail differently (and take dagster-k8s's retries)."""
    launcher, instance = make_launcher(manifest_path=str(vault_manifest))
    tag = json.dumps({"pod_spec_config": {"service_account_name": "team-a-runner"}})
    text = _launch(launcher, instance, **{"dagster-k8s/config": tag})
    assert "no Job created" in text
    assert "service account 'team-a-runner' (set in the run's 'dagster-k8s/config' tag" in text
    assert "'vault' secrets backend needs 'floe-job-runner'" in text
    assert "role 'floe-runner'" in text
    assert "service_account_name: team-a-runner" in text


@pytest.mark.parametrize("launcher_account", [None, "launcher-runner"])
def test_vault_refuses_another_account_from_the_code_location(
    make_launcher: Any, vault_manifest: Path, launcher_account: str | None
) -> None:
    """The code location's account wins over the launcher's (dagster-k8s's merge order)."""
    extra = {"service_account_name": launcher_account} if launcher_account else {}
    launcher, instance = make_launcher(manifest_path=str(vault_manifest), **extra)
    origin = _origin_with_container_context({"k8s": {"service_account_name": "location-runner"}})
    run = create_run_for_test(instance, job_name="drop_in_job", job_code_origin=origin)
    launcher.launch_run(LaunchRunContext(dagster_run=run, workspace=None))
    text = "\n".join(str(e.message) for e in instance.all_logs(run.run_id))
    assert "'location-runner' (set in the code location's container_context" in text
    assert f"needs '{launcher_account or 'floe-job-runner'}'" in text
    assert "no Job created" in text


# --- (c) injected API objects ---------------------------------------------------------------


class _RestrictedApiClient:
    """An ApiClient stand-in that, like a locked-down client, forbids new attributes."""

    __slots__ = ("calls",)

    def __init__(self) -> None:
        self.calls = 0

    def request(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        raise AssertionError("no request is made in this test")


class _Api:
    def __init__(self) -> None:
        self.api_client = _RestrictedApiClient()


def test_injected_api_objects_are_used_as_given(kubeconfig: Path) -> None:
    batch, core = _Api(), _Api()
    original = batch.api_client.request
    launcher = FloeK8sRunLauncher(
        instance_config_map="dagster-instance",
        dagster_home="/opt/dagster/dagster_home",
        job_image="img:1",
        load_incluster_config=False,
        kubeconfig_file=str(kubeconfig),
        k8s_client_batch_api=batch,
        k8s_client_core_api=core,
    )
    client = internals.kubernetes_client(launcher)
    assert client.batch_api is batch
    assert client.core_api is core
    assert batch.api_client.request == original  # not wrapped, not replaced
    assert not hasattr(core.api_client, "_floe_bounded")


def test_only_the_api_objects_the_launcher_creates_get_its_timeout(kubeconfig: Path) -> None:
    batch = k8s.BatchV1Api(api_client=k8s.ApiClient())
    launcher = FloeK8sRunLauncher(
        instance_config_map="dagster-instance",
        dagster_home="/opt/dagster/dagster_home",
        job_image="img:1",
        load_incluster_config=False,
        kubeconfig_file=str(kubeconfig),
        k8s_client_batch_api=batch,
    )
    client = internals.kubernetes_client(launcher)
    assert "request" not in vars(batch.api_client)  # the class's method, untouched
    assert getattr(client.core_api.api_client, "_floe_bounded", False)  # ours: bounded
    batch.api_client.close()
    client.core_api.api_client.close()
