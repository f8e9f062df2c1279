"""``FloeK8sRunLauncher`` with 120 secrets per run, on PostgreSQL run storage (as Helm deploys it).

PostgreSQL indexes run tags (``idx_run_tags``: key and value, a b-tree whose entries are capped at
2,704 bytes). The launcher once wrote per-secret tags whose values grew with the number of
secrets, and wrote them after the Job existed: past ~35 secrets ``add_run_tags`` failed and left
a Job whose run had none of floe's tags. Here, against a real PostgreSQL and a real apiserver,
through a real workspace and an asset job:

- a run with 120 secrets launches; every floe tag is small (the names become a digest); the
  Job mounts all 120; the names, versions and fingerprints are in the launch event, and a
  launcher that never saw the launch reads the names back from it;
- a run with 3 secrets keeps the names readable in its tag;
- the tags are written before the Job: when PostgreSQL refuses the tag write, no Job exists.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from dagster import DagsterInstance, DagsterRun, DagsterRunStatus
from dagster._core.definitions.selector import JobSubsetSelector
from dagster._core.launcher import LaunchRunContext
from dagster._core.test_utils import in_process_test_workspace, instance_for_test
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from kubernetes import client as k8s

from floe_dagster_secrets.launcher import FloeK8sRunLauncher
from floe_dagster_secrets.launcher.launch_record import (
    REFS_TAG_MAX_CHARS,
    SECRETS_FINGERPRINT_TAG,
    is_refs_digest,
    read_launch_record,
)
from floe_dagster_secrets.launcher.pod_env import SECRET_REFS_TAG
from tests.servers import KubeApiServer, PostgresServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

MANY = 120
FEW = 3
KEY_ENV = "FLOE_TEST_MANY_SECRETS_FINGERPRINT_KEY"
PG_PASSWORD_ENV = "FLOE_TEST_MANY_SECRETS_PG_PASSWORD"


def names(count: int) -> list[str]:
    """Secret names of a usual length (~40 characters)."""
    return [f"warehouse-{count:03d}-{i:03d}-readonly-credentials" for i in range(count)]


DEFS = f"""\
from dagster import Definitions, asset, define_asset_job

from floe_dagster_secrets.resources import secrets_metadata


def _assets(count):
    names = [f"warehouse-{{count:03d}}-{{i:03d}}-readonly-credentials" for i in range(count)]
    made = []
    for i in range(5):
        @asset(
            name=f"n{{count}}_step_{{i}}",
            deps=[f"n{{count}}_step_{{i - 1}}"] if i else [],
            metadata=secrets_metadata(names[i::5]) if names[i::5] else {{}},
        )
        def _step():
            return None

        made.append(_step)
    return made


_MANY, _FEW = _assets({MANY}), _assets({FEW})
defs = Definitions(
    assets=[*_MANY, *_FEW],
    jobs=[
        define_asset_job("many_job", selection=_MANY),
        define_asset_job("few_job", selection=_FEW),
    ],
)
"""


@contextmanager
def postgres_instance(
    postgres: PostgresServer, kube: KubeApiServer, namespace: str
) -> Iterator[tuple[DagsterInstance, str]]:
    """An instance on a new PostgreSQL database (and its name), our launcher in its config."""
    db_name = f"many_{secrets.token_hex(4)}"
    conn = psycopg2.connect(postgres.dsn())
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE {db_name}")
    conn.close()
    os.environ[PG_PASSWORD_ENV] = postgres.password
    os.environ[KEY_ENV] = secrets.token_hex(32)
    overrides: dict[str, Any] = {
        "storage": {
            "postgres": {
                "postgres_db": {
                    "username": postgres.user,
                    "password": {"env": PG_PASSWORD_ENV},
                    "hostname": postgres.host,
                    "port": postgres.port,
                    "db_name": db_name,
                    "scheme": "postgresql+psycopg2",
                }
            }
        },
        "run_launcher": {
            "module": "floe_dagster_secrets.launcher",
            "class": "FloeK8sRunLauncher",
            "config": {
                "load_incluster_config": False,
                "kubeconfig_file": str(kube.admin_kubeconfig),
                "job_namespace": namespace,
                "instance_config_map": "dagster-instance",
                "dagster_home": "/opt/dagster/dagster_home",
                "job_image": "many-secrets:1",
                "fingerprint_key_env": KEY_ENV,
            },
        },
    }
    with instance_for_test(overrides=overrides) as instance:
        yield instance, db_name


def create_secrets(kube: KubeApiServer, namespace: str, wanted: list[str]) -> None:
    core = k8s.CoreV1Api(kube.api_client())
    for name in wanted:
        body = {"metadata": {"name": name}, "stringData": {"PASSWORD": secrets.token_hex(8)}}
        core.create_namespaced_secret(namespace, body)


def create_run(instance: DagsterInstance, workspace: Any, job_name: str) -> DagsterRun:
    """A run of ``job_name`` created as the webserver creates it (plan from the code location)."""
    location_name = workspace.code_location_names[0]
    location = workspace.get_code_location(location_name)
    repository = next(iter(location.get_repositories().values()))
    selector = JobSubsetSelector(
        location_name=location_name,
        repository_name=repository.name,
        job_name=job_name,
        op_selection=None,
    )
    remote = location.get_job(selector)
    plan = location.get_execution_plan(remote, {}, None, None, instance=instance)
    return instance.create_run(
        job_name=job_name,
        run_id=None,
        run_config={},
        status=DagsterRunStatus.NOT_STARTED,
        tags=dict(remote.tags),
        root_run_id=None,
        parent_run_id=None,
        step_keys_to_execute=plan.execution_plan_snapshot.step_keys_to_execute,
        execution_plan_snapshot=plan.execution_plan_snapshot,
        job_snapshot=remote.job_snapshot,
        parent_job_snapshot=remote.parent_job_snapshot,
        asset_selection=None,
        asset_check_selection=None,
        resolved_op_selection=None,
        op_selection=None,
        remote_job_origin=remote.get_remote_origin(),
        job_code_origin=remote.get_python_origin(),
        asset_graph=workspace.asset_graph,
    )


def mounted(kube: KubeApiServer, namespace: str, run_id: str) -> list[str]:
    batch = k8s.BatchV1Api(kube.api_client())
    (job,) = batch.list_namespaced_job(namespace, label_selector=f"dagster/run-id={run_id}").items
    return [e.secret_ref.name for e in job.spec.template.spec.containers[0].env_from or []]


def events(instance: DagsterInstance, run_id: str) -> str:
    return "\n".join(str(r.message) for r in instance.all_logs(run_id))


@pytest.fixture
def defs_file(tmp_path: Path) -> Path:
    path = tmp_path / "many_secrets_defs.py"
    path.write_text(DEFS)
    return path


def test_a_run_with_120_secrets_launches_with_small_tags_on_postgresql(
    kube_apiserver: KubeApiServer,
    k8s_namespace: str,
    postgres_server: PostgresServer,
    defs_file: Path,
) -> None:
    create_secrets(kube_apiserver, k8s_namespace, names(MANY) + names(FEW))
    origin = LoadableTargetOrigin(python_file=str(defs_file), attribute="defs")
    with (
        postgres_instance(postgres_server, kube_apiserver, k8s_namespace) as (instance, _),
        in_process_test_workspace(instance, origin) as workspace,
    ):
        # the storage under test has the limit the old tags hit (not a vacuous pass)
        probe = create_run(instance, workspace, "few_job")
        with pytest.raises(Exception, match="index row size"):
            instance.add_run_tags(probe.run_id, {"probe": secrets.token_hex(4000)})

        launcher = instance.run_launcher
        assert isinstance(launcher, FloeK8sRunLauncher)
        many = create_run(instance, workspace, "many_job")
        launcher.launch_run(LaunchRunContext(dagster_run=many, workspace=workspace))
        few = create_run(instance, workspace, "few_job")
        launcher.launch_run(LaunchRunContext(dagster_run=few, workspace=workspace))

        stored = instance.get_run_by_id(many.run_id)
        assert stored is not None
        assert stored.status != DagsterRunStatus.FAILURE, events(instance, many.run_id)
        ours = {k: v for k, v in stored.tags.items() if k.startswith("floe/")}
        assert set(ours) == {SECRET_REFS_TAG, SECRETS_FINGERPRINT_TAG}
        assert all(len(value) <= REFS_TAG_MAX_CHARS for value in ours.values()), ours
        assert is_refs_digest(ours[SECRET_REFS_TAG])
        assert mounted(kube_apiserver, k8s_namespace, many.run_id) == sorted(names(MANY))

        record = read_launch_record(instance, many.run_id)
        assert record is not None
        assert list(record.refs) == sorted(names(MANY))
        assert set(record.versions) == set(names(MANY))
        assert set(record.fingerprints) == set(names(MANY))
        assert all(v.startswith("hmac-sha256:") for v in record.fingerprints.values())

        few_stored = instance.get_run_by_id(few.run_id)
        assert few_stored is not None
        assert few_stored.tags[SECRET_REFS_TAG] == ",".join(sorted(names(FEW)))
        assert mounted(kube_apiserver, k8s_namespace, few.run_id) == sorted(names(FEW))

        # a launcher that never saw the launch (another process: a restarted daemon, a resumed
        # run, a run worker's step handler) reads the names back from the launch event
        with DagsterInstance.from_ref(instance.get_ref()) as again:
            fresh = again.run_launcher
            assert isinstance(fresh, FloeK8sRunLauncher)
            assert fresh is not launcher
            reread = again.get_run_by_id(many.run_id)
            assert reread is not None
            assert fresh.secret_refs(reread) == tuple(sorted(names(MANY)))
            context = fresh.get_container_context_for_run(reread)
            env_from = context.run_k8s_config.container_config["env_from"]
            assert [e["secret_ref"]["name"] for e in env_from] == sorted(names(MANY))


def test_a_refused_tag_write_leaves_no_job(
    kube_apiserver: KubeApiServer,
    k8s_namespace: str,
    postgres_server: PostgresServer,
    defs_file: Path,
) -> None:
    create_secrets(kube_apiserver, k8s_namespace, names(FEW))
    origin = LoadableTargetOrigin(python_file=str(defs_file), attribute="defs")
    with (
        postgres_instance(postgres_server, kube_apiserver, k8s_namespace) as (instance, db),
        in_process_test_workspace(instance, origin) as workspace,
    ):
        conn = psycopg2.connect(postgres_server.dsn(db))
        conn.autocommit = True
        with conn.cursor() as cur:  # PostgreSQL itself refuses floe's tag
            cur.execute(
                "CREATE FUNCTION refuse_floe_tags() RETURNS trigger LANGUAGE plpgsql AS $$ "
                "BEGIN IF NEW.key LIKE 'floe/%' THEN RAISE EXCEPTION 'refused by the test'; "
                "END IF; RETURN NEW; END $$"
            )
            cur.execute(
                "CREATE TRIGGER refuse_floe_tags BEFORE INSERT OR UPDATE ON run_tags "
                "FOR EACH ROW EXECUTE FUNCTION refuse_floe_tags()"
            )
        conn.close()
        run = create_run(instance, workspace, "few_job")
        with pytest.raises(Exception, match="refused by the test"):
            instance.run_launcher.launch_run(LaunchRunContext(dagster_run=run, workspace=workspace))
    jobs = k8s.BatchV1Api(kube_apiserver.api_client()).list_namespaced_job(k8s_namespace)
    assert jobs.items == []
