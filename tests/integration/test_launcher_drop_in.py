"""``FloeK8sRunLauncher`` as a drop-in for ``K8sRunLauncher``, and the backend's say over the pod.

Real apiserver, real Dagster instance (SQLite in a temp dir), real launcher; each test reads the
Job the launcher created (or checks that none was). What a kubelet then does with these Jobs is
proved on the real node (issue 20); here: what goes into the Job.

- (a) no manifest, no ``dbt_profiles_config_map``: no profiles volume, no ``DBT_PROFILES_DIR``.
- (b) a service account the user set is on the Job; with ``type: vault`` another account than
  the one its role is bound to is refused before any Job.
- (c) API objects passed in create the Job and are not rewritten.
- ``type: vault``: a Vault-backed secret is neither referenced (``envFrom``) nor pre-flighted as
  a Kubernetes Secret; the launcher's platform secrets still are.
- The dbt profiles ConfigMap a manifest implies is pre-flighted: missing, the run fails before
  any Job (a pod mounting it would never start); unreadable (RBAC), the run goes on with a warning.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from dagster import (
    AssetKey,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    execute_job,
    job,
    op,
    reconstructable,
)
from dagster._core.definitions.reconstruct import ReconstructableJob
from dagster._core.launcher import LaunchRunContext
from dagster._core.test_utils import (
    create_run_for_test,
    in_process_test_workspace,
    instance_for_test,
)
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from kubernetes import client as k8s

from floe_dagster_secrets.backends.kubernetes import K8sSecretsPlugin
from floe_dagster_secrets.launcher import FloeK8sRunLauncher, floe_k8s_job_executor
from floe_dagster_secrets.launcher.launch_record import (
    NOT_FINGERPRINTED,
    SECRETS_FINGERPRINT_TAG,
    read_launch_record,
)
from floe_dagster_secrets.launcher.pod_env import PROFILES_VOLUME, SECRET_REFS_TAG
from tests.integration.fault_helpers import canary
from tests.servers import KubeApiServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

PLATFORM = "platform-shared-secret"
VAULT_BACKED = "warehouse-prod-credentials"

VAULT_MANIFEST = f"""\
environment: prod
plugins:
  secrets:
    type: vault
    namespace: floe-jobs
    config:
      address: http://127.0.0.1:8200
      role: floe-runner
      mount_path: k8s-test
  compute:
    type: postgres
    connection_secret_ref: {VAULT_BACKED}
    config: {{host: 127.0.0.1, database: d, port: 5432}}
"""

K8S_MANIFEST = """\
environment: dev
plugins:
  secrets: {type: k8s, namespace: floe-jobs}
  compute:
    type: duckdb
    connection_secret_ref: duckdb-dev-credentials
    config: {path: w.duckdb}
"""

ASSET_DEFS = f"""\
from dagster import Definitions, asset


@asset(metadata={{"floe/secrets": "{VAULT_BACKED}"}})
def orders() -> None:
    pass


defs = Definitions(assets=[orders])
"""


@op
def touch() -> None:
    pass


@job
def drop_in_job() -> None:
    touch()


@contextmanager
def launcher_for(
    kube: KubeApiServer, namespace: str, **config: Any
) -> Iterator[tuple[FloeK8sRunLauncher, DagsterInstance]]:
    """A fresh instance whose ``dagster.yaml`` run launcher is ours with ``config`` on top."""
    launcher_config = {
        "module": "floe_dagster_secrets.launcher",
        "class": "FloeK8sRunLauncher",
        "config": {
            "load_incluster_config": False,
            "kubeconfig_file": str(kube.admin_kubeconfig),
            "job_namespace": namespace,
            "instance_config_map": "dagster-instance",
            "dagster_home": "/opt/dagster/dagster_home",
            "job_image": "drop-in:1",
            **config,
        },
    }
    with instance_for_test(overrides={"run_launcher": launcher_config}) as instance:
        launcher = instance.run_launcher
        assert isinstance(launcher, FloeK8sRunLauncher)
        yield launcher, instance


def launch(launcher: FloeK8sRunLauncher, instance: DagsterInstance, **tags: str) -> DagsterRun:
    origin = ReconstructableJob.for_file(__file__, "drop_in_job").get_python_origin()
    run = create_run_for_test(instance, job_name="drop_in_job", job_code_origin=origin, tags=tags)
    launcher.launch_run(LaunchRunContext(dagster_run=run, workspace=None))
    stored = instance.get_run_by_id(run.run_id)
    assert stored is not None
    return stored


def events(instance: DagsterInstance, run: DagsterRun) -> str:
    return "\n".join(
        str(r.dagster_event.message if r.dagster_event else r.message)
        for r in instance.all_logs(run.run_id)
    )


def create_profiles_config_map(kube: KubeApiServer, namespace: str) -> None:
    """The ConfigMap ``floe profiles render --configmap`` writes (names only, never a value)."""
    k8s.CoreV1Api(kube.api_client()).create_namespaced_config_map(
        namespace,
        {"metadata": {"name": "dbt-profiles"}, "data": {"profiles.yml": "floe: {outputs: {}}\n"}},
    )


def the_job(kube: KubeApiServer, namespace: str) -> k8s.V1Job:
    (only,) = k8s.BatchV1Api(kube.api_client()).list_namespaced_job(namespace).items
    return only


def pod_spec(job_: k8s.V1Job) -> k8s.V1PodSpec:
    return job_.spec.template.spec


def test_no_manifest_adds_no_profiles_volume_no_env_and_no_service_account(
    kube_apiserver: KubeApiServer, k8s_namespace: str
) -> None:
    """Issue 20 (a): a dagster-k8s user who configured none of it gets none of it."""
    K8sSecretsPlugin(api_client=kube_apiserver.api_client()).create_secret(
        PLATFORM, k8s_namespace, {"TOKEN": canary()}
    )
    with launcher_for(kube_apiserver, k8s_namespace, platform_secrets=[PLATFORM]) as (
        launcher,
        instance,
    ):
        run = launch(launcher, instance)
        assert run.status != DagsterRunStatus.FAILURE, events(instance, run)
    spec = pod_spec(the_job(kube_apiserver, k8s_namespace))
    container = spec.containers[0]
    assert [e.secret_ref.name for e in container.env_from] == [PLATFORM]
    assert not any(v.name == PROFILES_VOLUME for v in spec.volumes or [])
    assert not any(m.name == PROFILES_VOLUME for m in container.volume_mounts or [])
    assert not any(e.name == "DBT_PROFILES_DIR" for e in container.env or [])
    assert spec.service_account_name is None  # the namespace's default, as in dagster-k8s


def test_the_service_account_the_user_set_is_the_jobs(
    kube_apiserver: KubeApiServer, k8s_namespace: str
) -> None:
    """Issue 20 (b): the run tag's account, over the launcher's, as dagster-k8s merges them."""
    tag = json.dumps({"pod_spec_config": {"service_account_name": "tag-runner"}})
    with launcher_for(kube_apiserver, k8s_namespace, service_account_name="launcher-runner") as (
        launcher,
        instance,
    ):
        run = launch(launcher, instance, **{"dagster-k8s/config": tag})
        assert run.status != DagsterRunStatus.FAILURE, events(instance, run)
    assert pod_spec(the_job(kube_apiserver, k8s_namespace)).service_account_name == "tag-runner"


def test_vault_refuses_an_account_its_role_is_not_bound_to_before_any_job(
    kube_apiserver: KubeApiServer, k8s_namespace: str, tmp_path: Path
) -> None:
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(VAULT_MANIFEST)
    tag = json.dumps({"pod_spec_config": {"service_account_name": "team-a-runner"}})
    with launcher_for(kube_apiserver, k8s_namespace, manifest_path=str(manifest)) as (
        launcher,
        instance,
    ):
        run = launch(launcher, instance, **{"dagster-k8s/config": tag})
        text = events(instance, run)
    assert run.status == DagsterRunStatus.FAILURE
    assert "service account 'team-a-runner'" in text
    assert "'vault' secrets backend needs 'floe-job-runner'" in text
    assert "no Job created" in text
    jobs = k8s.BatchV1Api(kube_apiserver.api_client()).list_namespaced_job(k8s_namespace)
    assert jobs.items == []


def test_vault_backed_secret_is_no_kubernetes_secret_platform_ones_still_are(
    kube_apiserver: KubeApiServer, k8s_namespace: str, tmp_path: Path
) -> None:
    """``type: vault``: the asset's secret lives in Vault only; the Job neither references nor
    needs a Kubernetes Secret for it. The platform secret is still one, and still checked."""
    K8sSecretsPlugin(api_client=kube_apiserver.api_client()).create_secret(
        PLATFORM, k8s_namespace, {"TOKEN": canary()}
    )
    create_profiles_config_map(kube_apiserver, k8s_namespace)  # the manifest implies it
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(VAULT_MANIFEST)
    defs = tmp_path / "drop_in_defs.py"
    defs.write_text(ASSET_DEFS)
    with (
        launcher_for(
            kube_apiserver,
            k8s_namespace,
            manifest_path=str(manifest),
            platform_secrets=[PLATFORM],
            vault_address="http://vault.vault.svc:8200",
        ) as (launcher, instance),
        in_process_test_workspace(
            instance, LoadableTargetOrigin(python_file=str(defs), attribute="defs")
        ) as workspace,
    ):
        location = workspace.get_code_location(workspace.code_location_names[0])
        repository = next(iter(location.get_repositories().values()))
        remote = repository.get_full_job("__ASSET_JOB")
        run = create_run_for_test(
            instance,
            job_name=remote.name,
            remote_job_origin=remote.get_remote_origin(),
            job_code_origin=remote.get_python_origin(),
            asset_selection=frozenset({AssetKey("orders")}),
        )
        launcher.launch_run(LaunchRunContext(dagster_run=run, workspace=workspace))
        stored = instance.get_run_by_id(run.run_id)
        assert stored is not None
        assert stored.status != DagsterRunStatus.FAILURE, events(instance, stored)
        record = read_launch_record(instance, run.run_id)
    assert stored.tags[SECRET_REFS_TAG] == f"{PLATFORM},{VAULT_BACKED}"
    assert record is not None
    assert set(record.versions) == {PLATFORM}  # checked: the platform secret only
    spec = pod_spec(the_job(kube_apiserver, k8s_namespace))
    container = spec.containers[0]
    assert [e.secret_ref.name for e in container.env_from] == [PLATFORM]
    env = {e.name: e.value for e in container.env or []}
    assert env["VAULT_ADDR"] == "http://vault.vault.svc:8200"  # the launcher's override
    assert env["FLOE_VAULT_AUTH_ROLE"] == "floe-runner"
    assert env["FLOE_VAULT_AUTH_MOUNT"] == "k8s-test"
    assert spec.service_account_name == "floe-job-runner"
    assert VAULT_BACKED not in json.dumps(
        kube_apiserver.api_client().sanitize_for_serialization(spec.containers)
    )


def test_a_missing_profiles_config_map_fails_the_run_before_any_job_with_the_secrets(
    kube_apiserver: KubeApiServer, k8s_namespace: str, tmp_path: Path
) -> None:
    """The manifest implies the ``dbt-profiles`` volume; without the ConfigMap the kubelet would
    retry the mount for ever. Reported with a missing secret, in one failure; once both exist,
    the run gets its Job with the volume."""
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(K8S_MANIFEST)
    batch = k8s.BatchV1Api(kube_apiserver.api_client())
    with launcher_for(
        kube_apiserver, k8s_namespace, manifest_path=str(manifest), platform_secrets=[PLATFORM]
    ) as (launcher, instance):
        refused = launch(launcher, instance)
        text = events(instance, refused)
        assert batch.list_namespaced_job(k8s_namespace).items == []

        K8sSecretsPlugin(api_client=kube_apiserver.api_client()).create_secret(
            PLATFORM, k8s_namespace, {"TOKEN": canary()}
        )
        create_profiles_config_map(kube_apiserver, k8s_namespace)
        launched = launch(launcher, instance)
        assert launched.status != DagsterRunStatus.FAILURE, events(instance, launched)
    assert refused.status == DagsterRunStatus.FAILURE
    assert f"Secret '{PLATFORM}' that this run needs does not exist" in text
    assert (
        f"ConfigMap 'dbt-profiles' holding the run's dbt profiles.yml does not exist in "
        f"namespace '{k8s_namespace}'" in text
    )
    assert f"floe profiles render --configmap --namespace {k8s_namespace}" in text
    assert "dbt_profiles_config_map" in text
    spec = pod_spec(the_job(kube_apiserver, k8s_namespace))
    volume = next(v for v in spec.volumes if v.name == PROFILES_VOLUME)
    assert volume.config_map.name == "dbt-profiles"


def test_a_launcher_that_may_not_read_config_maps_launches_with_a_warning(
    kube_apiserver: KubeApiServer, k8s_namespace: str, tmp_path: Path
) -> None:
    """RBAC without ``get configmaps`` (dagster-k8s never needed it): no verdict, so the run is
    launched as dagster-k8s would, and the run log says what could not be checked."""
    rbac = k8s.RbacAuthorizationV1Api(kube_apiserver.api_client())
    rules = [{"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create", "get", "list"]}]
    rbac.create_namespaced_role(k8s_namespace, {"metadata": {"name": "jobs-only"}, "rules": rules})
    rbac.create_namespaced_role_binding(
        k8s_namespace,
        {
            "metadata": {"name": "jobs-only"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "jobs-only",
            },
            "subjects": [
                {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "User",
                    "name": kube_apiserver.restricted_user,
                }
            ],
        },
    )
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(K8S_MANIFEST)
    with launcher_for(
        kube_apiserver,
        k8s_namespace,
        manifest_path=str(manifest),
        kubeconfig_file=str(kube_apiserver.restricted_kubeconfig),
    ) as (launcher, instance):
        run = launch(launcher, instance)
        text = events(instance, run)
    assert run.status != DagsterRunStatus.FAILURE, text
    assert "floe: warning: could not check that ConfigMap 'dbt-profiles'" in text
    assert "answered 403" in text
    volumes = pod_spec(the_job(kube_apiserver, k8s_namespace)).volumes
    assert any(v.name == PROFILES_VOLUME for v in volumes)


def test_a_dbt_profiles_dir_the_user_set_is_kept_never_overridden(
    kube_apiserver: KubeApiServer, k8s_namespace: str, tmp_path: Path
) -> None:
    """A manifest only implies the profiles ConfigMap: a user whose image brings its own profile
    (``DBT_PROFILES_DIR`` in the launcher's env_vars) gets neither floe's volume nor its variable,
    and no ConfigMap is required. Set explicitly against theirs, the run is refused: dbt would
    read one of two profiles, and which one is theirs to say."""
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(K8S_MANIFEST)
    mine = "DBT_PROFILES_DIR=/app/profiles"
    with launcher_for(
        kube_apiserver, k8s_namespace, manifest_path=str(manifest), env_vars=[mine]
    ) as (launcher, instance):
        kept = launch(launcher, instance)
        assert kept.status != DagsterRunStatus.FAILURE, events(instance, kept)
    spec = pod_spec(the_job(kube_apiserver, k8s_namespace))
    env = [(e.name, e.value) for e in spec.containers[0].env or [] if e.name == "DBT_PROFILES_DIR"]
    assert env == [("DBT_PROFILES_DIR", "/app/profiles")]
    assert not any(v.name == PROFILES_VOLUME for v in spec.volumes or [])

    batch = k8s.BatchV1Api(kube_apiserver.api_client())
    batch.delete_collection_namespaced_job(k8s_namespace, propagation_policy="Background")
    with launcher_for(
        kube_apiserver,
        k8s_namespace,
        manifest_path=str(manifest),
        env_vars=[mine],
        dbt_profiles_config_map="dbt-profiles",
    ) as (launcher, instance):
        refused = launch(launcher, instance)
        text = events(instance, refused)
    assert refused.status == DagsterRunStatus.FAILURE
    assert "sets DBT_PROFILES_DIR=/app/profiles; no Job was created" in text
    assert "dbt_profiles_config_map (null) to keep your DBT_PROFILES_DIR" in text
    assert batch.list_namespaced_job(k8s_namespace).items == []


def test_a_retry_does_not_keep_its_parents_fingerprint(
    kube_apiserver: KubeApiServer, k8s_namespace: str
) -> None:
    """Dagster's retries copy the parent's tags; a launch that computes no fingerprint (here: no
    key) must not leave the parent's, which would claim versions this run was not checked with."""
    parent_tags = {SECRETS_FINGERPRINT_TAG: "hmac-sha256:parent", SECRET_REFS_TAG: "old-secret"}
    with launcher_for(kube_apiserver, k8s_namespace) as (launcher, instance):
        run = launch(launcher, instance, **parent_tags)
        assert run.status != DagsterRunStatus.FAILURE, events(instance, run)
    assert run.tags[SECRETS_FINGERPRINT_TAG] == NOT_FINGERPRINTED
    assert run.tags[SECRET_REFS_TAG] == ""  # this run's own (no secrets), not the parent's


def test_injected_api_objects_create_the_job_and_are_not_rewritten(
    kube_apiserver: KubeApiServer, k8s_namespace: str, tmp_path: Path
) -> None:
    """Issue 20 (c): the caller's API objects are used as given, never wrapped.

    The launcher's kubeconfig points where nothing listens, so the pre-flight read and the Job
    creation can only have gone through the injected objects.
    """
    nowhere = tmp_path / "kubeconfig"
    nowhere.write_text(
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
    K8sSecretsPlugin(api_client=kube_apiserver.api_client()).create_secret(
        PLATFORM, k8s_namespace, {"TOKEN": canary()}
    )
    api = kube_apiserver.api_client()
    batch, core = k8s.BatchV1Api(api), k8s.CoreV1Api(api)
    from floe_dagster_secrets.launcher.config import resolve

    with instance_for_test() as instance:
        launcher = FloeK8sRunLauncher(
            secrets=resolve({"platform_secrets": [PLATFORM]}, service_account_name=None),
            instance_config_map="dagster-instance",
            dagster_home="/opt/dagster/dagster_home",
            job_image="drop-in:1",
            load_incluster_config=False,
            kubeconfig_file=str(nowhere),
            job_namespace=k8s_namespace,
            k8s_client_batch_api=batch,
            k8s_client_core_api=core,
        )
        launcher.register_instance(instance)
        assert "request" not in vars(api)  # the ApiClient's own method, not replaced
        assert not hasattr(api, "_floe_bounded")
        run = launch(launcher, instance)
        assert run.status != DagsterRunStatus.FAILURE, events(instance, run)
        record = read_launch_record(instance, run.run_id)
        assert record is not None
        assert record.versions.keys() == {PLATFORM}  # read through it
        launcher.dispose()
    assert the_job(kube_apiserver, k8s_namespace).metadata.name.startswith("dagster-run-")


@op
def step_op() -> None:
    pass


@job(executor_def=floe_k8s_job_executor)
def step_job() -> None:
    step_op()


def test_step_pod_account_the_vault_role_is_not_bound_to_fails_the_step_before_its_job(
    kube_apiserver: KubeApiServer, k8s_namespace: str, tmp_path: Path
) -> None:
    """``floe_k8s_job_executor``: the real step handler against the real apiserver refuses a
    step pod account that differs from the one the Vault role is bound to; no step Job."""
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(VAULT_MANIFEST)
    executor_config = {
        "execution": {
            "config": {
                "job_namespace": k8s_namespace,
                "load_incluster_config": False,
                "kubeconfig_file": str(kube_apiserver.admin_kubeconfig),
                "job_image": "drop-in:1",
                "service_account_name": "step-runner",
            }
        }
    }
    with launcher_for(kube_apiserver, k8s_namespace, manifest_path=str(manifest)) as (_, instance):
        result = execute_job(
            reconstructable(step_job), instance, run_config=executor_config, raise_on_error=False
        )
        text = "\n".join(
            str(e.message) + str(e.event_specific_data or "") for e in result.all_events
        )
    assert not result.success
    assert "service account 'step-runner'" in text
    assert "needs 'floe-job-runner'" in text
    assert "step 'step_op'" in text
    jobs = k8s.BatchV1Api(kube_apiserver.api_client()).list_namespaced_job(k8s_namespace)
    assert jobs.items == []
