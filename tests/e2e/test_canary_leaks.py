"""The canary leak suite: every end-to-end flow runs with canary secret values, then every artifact
is searched for each canary in plain, base64 and URL-encoded form. Zero hits.

Flows (real servers, real Dagster, real dbt):
- the demo job on the local backend (``dagster job execute``, SQLite storage, dbt on DuckDB),
  run in a thread while the others run;
- the launcher on Kubernetes: a run through ``FloeK8sRunLauncher`` into a real Job whose pod runs
  on the suite's real node, from the project's image (PostgreSQL storage; the fixture of
  ``test_launcher_e2e``);
- Vault: a Dagster run reading a KV secret and taking a dynamic database lease from OpenBao,
  logging both (plainly and inside JSON) and handing the password to a child process run
  through ``masking.run_redacted`` (its output must reach the compute log redacted);
- rotation: ``floe secrets rotate`` as a real process, then the rotation sensor's daemon ticks;
- the CLI as real processes: create, list, status, get, get --reveal into a pipe, rotate, a bad
  env file, an existing secret, profiles render;
- our errors, raised on purpose with canaries in the input.

Artifacts: Dagster storage (PostgreSQL and SQLite: runs, event logs, snapshots, ticks, cursors),
compute logs, dbt ``target/`` and ``logs/``, generated files, every listable object in the
apiserver but Secrets, CLI output, the containers' logs, the node's kubelet directory, container
log files, containerd's state and the containers' writable layers (``node``; containerd's copy
of each container's spec, where every Kubernetes env var lives, is checked apart in
``test_launcher_e2e``), every Python log record and ``floe.audit`` event of
this process, exceptions, OpenBao's audit log (plain values only: it HMACs them), the
kube-apiserver's audit log (every form: floe's audit policy logs Metadata only) and the
observations of the ``secrets/*`` assets read back from Dagster (the demo run's fetch events,
the rotation sensor's version observations).

The second half proves the scanner can fail: one leak planted on purpose per artifact class.
"""

import base64
import json
import logging
import os
import secrets
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.parse
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from dagster import (
    AssetExecutionContext,
    AssetObservation,
    DagsterInstance,
    DagsterRunStatus,
    asset,
    instance_for_test,
)
from dagster import materialize as dagster_materialize
from dagster_k8s.job import get_job_name_from_run_id
from kubernetes import client as k8s

from floe_dagster_secrets.backends.kubernetes import K8sSecretsPlugin
from floe_dagster_secrets.backends.local import LocalSecretsPlugin
from floe_dagster_secrets.errors import FloeSecretsError
from floe_dagster_secrets.masking import run_redacted
from floe_dagster_secrets.resources.vault import VaultSecretsResource
from tests.e2e.demo_location import KEY, NAMESPACE, SECRET, copy_location
from tests.e2e.leak_scan import (
    Artifact,
    apiserver_artifacts,
    apiserver_audit_artifact,
    exception_artifact,
    file_artifacts,
    find_leaks,
    openbao_audit_artifact,
    postgres_artifacts,
    secret_event_artifacts,
    sqlite_artifacts,
    text_artifact,
)
from tests.e2e.node_harness import container_logs, node_artifacts
from tests.e2e.test_launcher_e2e import Env, _launch_assets, _wait_finished, env
from tests.integration import test_rotation_sensor, test_secret_lineage_k8s
from tests.integration.sensor_daemon import workspace_daemon
from tests.integration.test_rotation_sensor import KUBECONFIG_VAR, NAMESPACE_VAR, SECRET_A
from tests.integration.test_secret_lineage_k8s import KUBECONFIG_VAR as LINEAGE_KUBECONFIG_VAR
from tests.integration.test_secret_lineage_k8s import NAMESPACE_VAR as LINEAGE_NAMESPACE_VAR
from tests.integration.vault_helpers import database_engine, unique

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]  # its setup may start the node

__all__ = ["env"]  # the launcher e2e's module fixture, reused here (one Dagster + node setup)

VENV_BIN = Path(sys.executable).parent
KINDS = (
    "sqlite",
    "postgres",
    "compute-logs",
    "dbt",
    "generated-files",
    "apiserver",
    "cli",
    "pod-output",
    "node",
    "python-logs",
    "exceptions",
    "openbao-audit",
    "apiserver-audit",
    "secret-events",
)


def _canary(label: str) -> str:
    return f"canary{label}{secrets.token_urlsafe(18)}"


def _special_canary(label: str) -> str:
    """Quotes, a backslash, a tab and non-ASCII: escaped differently in JSON, URLs and YAML."""
    return f'canary{label}"q\\uo\tté-{secrets.token_urlsafe(12)}'


class _Records(logging.Handler):
    """Every log record this process makes while the flows run, formatted as a handler would."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@dataclass
class Suite:
    canaries: dict[str, str]
    artifacts: list[Artifact] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    env: Env | None = None
    tmp: Path = Path()


def _floe(
    *args: str, stdin: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VENV_BIN / "floe"), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=cwd,
        env={**os.environ, "NO_COLOR": "1"},
    )


def _floe_at_once(
    runs: dict[str, tuple[str, ...]],
) -> dict[str, subprocess.CompletedProcess[str]]:
    """Run several ``floe`` processes concurrently (stdout a pipe, as in CI); wait for all."""
    started = {
        label: subprocess.Popen(
            [str(VENV_BIN / "floe"), *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "NO_COLOR": "1"},
        )
        for label, args in runs.items()
    }
    done = {}
    for label, process in started.items():
        out, err = process.communicate(timeout=120)
        done[label] = subprocess.CompletedProcess(process.args, process.returncode, out, err)
    return done


def _cli_output(suite: Suite, label: str, result: subprocess.CompletedProcess[str]) -> None:
    suite.artifacts.append(text_artifact("cli", f"{label} stdout", result.stdout))
    suite.artifacts.append(text_artifact("cli", f"{label} stderr", result.stderr))


# --- the flows ------------------------------------------------------------------------------------


@dataclass
class Demo:
    """The demo job on the local backend, running in a thread from before the launcher's set-up."""

    canary: str
    location: Any
    thread: threading.Thread
    box: dict[str, Any]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    """Start the demo job (it takes longest) before any other fixture of the module is built."""
    canary = _canary("demolocal")
    location = copy_location(tmp_path_factory.mktemp("canary-demo"))
    LocalSecretsPlugin(path=location.store).create_secret(SECRET, NAMESPACE, {KEY: canary})
    # the demo's instance (tools/demo.py's): its secrets loader gives the key to the location's
    # processes, and floe.audit records reach the run's event log too
    location.write_demo_instance()
    box: dict[str, Any] = {}

    def run() -> None:
        started = time.monotonic()
        box["result"] = location.run_job()
        box["seconds"] = time.monotonic() - started

    thread = threading.Thread(target=run, name="demo-local", daemon=True)
    thread.start()
    return Demo(canary, location, thread, box)


def _collect_demo(suite: Suite, location: Any, box: dict[str, Any]) -> None:
    result = box["result"]
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    suite.timings["demo on the local backend"] = box["seconds"]
    suite.artifacts += sqlite_artifacts([location.home])
    with DagsterInstance.from_config(str(location.home)) as instance:
        events = secret_event_artifacts(instance)
    assert any('"step"' in a.text and SECRET in a.where for a in events), "no fetch event"
    suite.artifacts += events
    compute = file_artifacts([location.home], kind="compute-logs", suffixes=(".out", ".err"))
    assert any(a.text for a in compute), "the demo captured no compute log"
    suite.artifacts += compute
    dbt_dirs = [location.dbt_project / "target", location.dbt_project / "logs"]
    suite.artifacts += file_artifacts([d for d in dbt_dirs if d.exists()], kind="dbt")
    skip = (location.store, location.warehouse.parent, *dbt_dirs)
    suite.artifacts += file_artifacts([location.definitions], kind="generated-files", skip=skip)
    suite.artifacts.append(text_artifact("cli", "dagster job launch output", result.stdout))
    suite.artifacts.append(text_artifact("cli", "the run's event log", result.stderr))


def _launch(env: Env) -> tuple[str, float]:
    """Start one run through FloeK8sRunLauncher → Job → a pod on the node; it runs meanwhile."""
    return _launch_assets(env, ["alpha"]), time.monotonic()


def _finish_launch(suite: Suite, env: Env, run_id: str, started: float) -> None:
    run = _wait_finished(env.instance, run_id)
    # inside the pod the asset fails unless ALPHA_TOKEN (and no other token) reached it
    assert run.status == DagsterRunStatus.SUCCESS, container_logs(env.core, env.namespace)[-3000:]
    suite.timings["launcher on Kubernetes"] = time.monotonic() - started
    logs = container_logs(env.core, env.namespace)
    assert get_job_name_from_run_id(run_id) in logs  # this run's pod log was read
    suite.artifacts.append(text_artifact("pod-output", "container logs", logs))
    scanned, _ = node_artifacts(env.node)
    suite.artifacts += file_artifacts(scanned, kind="node")


def _vault_run(suite: Suite, bao: Any, pg: Any, tmp: Path) -> None:
    """A Dagster run that reads a KV secret and holds a dynamic DB lease, logging both."""
    started = time.monotonic()
    mount = database_engine(bao, pg)
    prefix = f"{unique('leak')}/"
    bao.request(
        "POST",
        f"secret/data/{prefix}floe-jobs/api-dev-key",
        {"data": {"API_KEY": suite.canaries["vault-kv"], "NOTE": suite.canaries["vault-special"]}},
    )
    token_file = tmp / "vault-token"
    token_file.write_text(bao.root_token)
    seen: dict[str, str] = {}

    @asset
    def uses_vault(context: AssetExecutionContext, vault: VaultSecretsResource) -> None:
        creds = vault.database_credentials()
        kv = vault.get_secret("api-dev-key")
        api_key, note = kv["API_KEY"].reveal(), kv["NOTE"].reveal()
        seen["password"] = creds.password.reveal()
        # a careless asset logs what it got: the masker must redact all of it
        context.log.info(f"api key {api_key} password {seen['password']}")
        logging.getLogger("user.code").warning("connecting with %s", seen["password"])
        context.log.info(json.dumps({"note": note, "api_key": api_key}))  # escaped inside JSON
        # a driver handed the credential prints it: its output reaches the compute log redacted
        child = "import os; print('driver connecting as', os.environ['PGPASSWORD'])"
        code = run_redacted(
            [sys.executable, "-c", child], env={**os.environ, "PGPASSWORD": seen["password"]}
        )
        assert code == 0

    home = tmp / "vault_home"
    home.mkdir()
    with DagsterInstance.local_temp(str(home)) as instance:
        result = dagster_materialize(
            [uses_vault],
            resources={
                "vault": VaultSecretsResource(
                    address=bao.address,
                    auth_method="token",
                    token_file=str(token_file),
                    secret_path_prefix=prefix,
                    namespace="floe-jobs",
                    database_role="dbt",
                    database_mount=mount,
                )
            },
            instance=instance,
        )
        assert result.success
        messages = [entry.user_message for entry in instance.all_logs(result.run_id)]
    assert "api key *** password ***" in messages  # logged, and redacted
    suite.canaries["vault-dynamic-password"] = seen["password"]
    suite.artifacts += sqlite_artifacts([home])
    compute = file_artifacts([home], kind="compute-logs", suffixes=(".out", ".err"))
    assert any("driver connecting as ***" in a.text for a in compute), "child output not captured"
    suite.artifacts += compute
    suite.timings["vault KV + dynamic credentials"] = time.monotonic() - started


def _rotation(suite: Suite, kube: Any, namespace: str, mp: pytest.MonkeyPatch) -> None:
    """`floe secrets rotate` as a real process, then the rotation sensor's daemon ticks."""
    started = time.monotonic()
    plugin = K8sSecretsPlugin(api_client=kube.api_client())
    plugin.create_secret(SECRET_A, namespace, {"PASSWORD": suite.canaries["rotation-before"]})
    mp.setenv(KUBECONFIG_VAR, str(kube.admin_kubeconfig))
    mp.setenv(NAMESPACE_VAR, namespace)
    rotation_location = str(test_rotation_sensor.__file__)
    with (
        instance_for_test() as instance,
        workspace_daemon(instance, rotation_location, "defs", location="rotation") as daemon,
    ):
        daemon.tick()
        target = ["--backend", "k8s", "--kubeconfig", str(kube.admin_kubeconfig), "-n", namespace]
        rotated = _floe(
            "secrets",
            "rotate",
            SECRET_A,
            "--from-stdin",
            *target,
            stdin=f"PASSWORD={suite.canaries['rotation-after']}\n",
        )
        assert rotated.returncode == 0, rotated.stderr
        _cli_output(suite, "rotate --from-stdin", rotated)
        generated = _floe("secrets", "rotate", SECRET_A, "--generate", "TOKEN:40", *target)
        assert generated.returncode == 0, generated.stderr
        _cli_output(suite, "rotate --generate", generated)
        token = plugin.get_secret(SECRET_A, namespace)["TOKEN"].reveal()
        suite.canaries["rotation-generated"] = token
        daemon.tick()
        assert len(daemon.runs()) == 1, "the rotation sensor did not request a run"
        suite.artifacts += sqlite_artifacts([Path(instance.root_directory)])
        suite.artifacts += file_artifacts(
            [Path(instance.root_directory)], kind="compute-logs", suffixes=(".out", ".err")
        )
    # the same namespace through a location with secret assets: the sensor observes them
    mp.setenv(LINEAGE_KUBECONFIG_VAR, str(kube.admin_kubeconfig))
    mp.setenv(LINEAGE_NAMESPACE_VAR, namespace)
    lineage_location = str(test_secret_lineage_k8s.__file__)
    with (
        instance_for_test() as instance,
        workspace_daemon(instance, lineage_location, "lineage_defs", location="lineage") as ticker,
    ):
        ticker.tick()
        events = secret_event_artifacts(instance)
        assert any(SECRET_A in a.where for a in events), "the sensor observed no secret asset"
        suite.artifacts += events
        suite.artifacts += sqlite_artifacts([Path(instance.root_directory)])
    suite.timings["rotation (CLI + sensor)"] = time.monotonic() - started


def _cli(suite: Suite, kube: Any, namespace: str, tmp: Path, manifest: Path) -> None:
    """The CLI as real processes, on the Kubernetes backend."""
    started = time.monotonic()
    target = ["--backend", "k8s", "--kubeconfig", str(kube.admin_kubeconfig), "-n", namespace]
    inputs = tmp / "cli-inputs"  # what the user typed: not an artifact
    inputs.mkdir()
    env_file = inputs / "app.env"
    env_file.write_text(
        f"PASSWORD={suite.canaries['cli-create']}\nUSER=app-user\n"
        f"NOTE='{suite.canaries['cli-special']}'\n"
    )
    bad_file = inputs / "bad.env"
    bad_file.write_text(
        f"PASSWORD={suite.canaries['cli-bad-line']}\nnot a line {suite.canaries['cli-bad-line']}\n"
    )
    name = "app-dev-credentials"
    runs = {
        "create": ("secrets", "create", name, "--from-env-file", str(env_file), *target),
        "create again": ("secrets", "create", name, "--from-env-file", str(env_file), *target),
        "create from a bad file": (
            "secrets",
            "create",
            "bad-dev-credentials",
            "--from-env-file",
            str(bad_file),
            *target,
        ),
        "list": ("secrets", "list", *target),
        "list -o json": ("secrets", "list", "-o", "json", *target),
        "status": ("secrets", "status", *target),
        "get": ("secrets", "get", name, *target),
        "get -o json": ("secrets", "get", name, "-o", "json", *target),
        "get --reveal into a pipe": ("secrets", "get", name, "--reveal", *target),
        "rotate --from-literal": (
            "secrets",
            "rotate",
            name,
            "--from-literal",
            f"PASSWORD={suite.canaries['cli-literal']}",
            *target,
        ),
        "profiles render": (
            "profiles",
            "render",
            "--manifest",
            str(manifest),
            "--output-dir",
            str(tmp / "rendered-profiles"),
        ),
    }
    # create first, rotate last, everything in between at once (independent reads)
    first, last = ["create"], ["rotate --from-literal"]
    middle = [label for label in runs if label not in (*first, *last)]
    codes = {}
    for phase in (first, middle, last):
        for label, result in _floe_at_once({label: runs[label] for label in phase}).items():
            codes[label] = result.returncode
            _cli_output(suite, label, result)
    assert codes == {
        "create": 0,
        "create again": 1,
        "create from a bad file": 1,
        "list": 0,
        "list -o json": 0,
        "status": 0,
        "get": 0,
        "get -o json": 0,
        "get --reveal into a pipe": 2,
        "rotate --from-literal": 0,
        "profiles render": 0,
    }
    suite.artifacts += file_artifacts([tmp / "rendered-profiles"], kind="generated-files")
    suite.timings["CLI"] = time.monotonic() - started


def _exceptions(suite: Suite, kube: Any, namespace: str, tmp: Path) -> None:
    """Our errors raised on purpose with canaries in the input, kept with their causes."""
    value = suite.canaries["exceptions"]
    k8s_plugin = K8sSecretsPlugin(api_client=kube.api_client())
    local = LocalSecretsPlugin(path=tmp / "exc-store")
    attempts = {
        "k8s: invalid key": lambda: k8s_plugin.create_secret(
            "x-dev-secret", namespace, {"BAD KEY": value}
        ),
        "k8s: too large": lambda: k8s_plugin.create_secret(
            "y-dev-secret", namespace, {"K": value * 50_000}
        ),
        "k8s: missing, on update": lambda: k8s_plugin.update_secret(
            "gone-dev-secret", namespace, {"K": value}
        ),
        "local: invalid key": lambda: local.create_secret(
            "x-dev-secret", namespace, {"BAD KEY": value}
        ),
        "local: not UTF-8": lambda: local.create_secret(
            "z-dev-secret", namespace, {"K": value + "\udcff"}
        ),
    }
    for label, attempt in attempts.items():
        with pytest.raises(FloeSecretsError) as raised:
            attempt()
        suite.artifacts.append(exception_artifact(label, raised.value))


@pytest.fixture(scope="module")
def suite(
    demo: Demo,
    env: Env,
    kube_apiserver: Any,
    openbao_server: Any,
    postgres_server: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Suite:
    started = time.monotonic()
    tmp = tmp_path_factory.mktemp("canary")
    labels = (
        "vault-kv",
        "rotation-before",
        "rotation-after",
        "cli-create",
        "cli-bad-line",
        "cli-literal",
        "exceptions",
    )
    canaries = {label: _canary(label.replace("-", "")) for label in labels}
    canaries |= {label: _special_canary(label) for label in ("vault-special", "cli-special")}
    canaries["demo-local"] = demo.canary
    canaries |= {f"launcher-{k}": v for k, v in env.canaries.items()}
    canaries["launcher-fingerprint-key"] = env.fingerprint_key
    canaries["vault-root-token"] = openbao_server.root_token
    canaries["postgres-password"] = postgres_server.password
    suite = Suite(canaries=canaries, env=env, tmp=tmp)
    records = _Records()
    logging.getLogger().addHandler(records)
    mp = pytest.MonkeyPatch()
    try:
        run_id, launched = _launch(env)
        namespace = kube_apiserver.create_namespace("floe-canary")
        _vault_run(suite, openbao_server, postgres_server, tmp)
        _rotation(suite, kube_apiserver, namespace, mp)
        _cli(suite, kube_apiserver, namespace, tmp, demo.location.definitions / "manifest.yaml")
        _exceptions(suite, kube_apiserver, namespace, tmp)
        _finish_launch(suite, env, run_id, launched)
        demo.thread.join(timeout=400)
        assert not demo.thread.is_alive(), "the demo job did not finish"
        _collect_demo(suite, demo.location, demo.box)
    finally:
        mp.undo()
        logging.getLogger().removeHandler(records)
    # what the launcher flow (and the e2e module before it) left in PostgreSQL and the cluster
    suite.artifacts += postgres_artifacts(env.dsn)
    suite.artifacts += file_artifacts([env.home], kind="compute-logs", suffixes=(".out", ".err"))
    suite.artifacts += apiserver_artifacts(kube_apiserver.api_client())
    suite.artifacts.append(text_artifact("python-logs", "this process", "\n".join(records.lines)))
    suite.artifacts.append(openbao_audit_artifact(openbao_server.audit_log))
    suite.artifacts.append(apiserver_audit_artifact(kube_apiserver.audit_log))
    suite.timings["total"] = time.monotonic() - started
    return suite


@pytest.mark.parametrize("kind", KINDS)
def test_no_canary_in_any_artifact(suite: Suite, kind: str) -> None:
    scanned = [a for a in suite.artifacts if a.kind == kind]
    assert scanned, f"no {kind} artifact was collected: the scan would prove nothing"
    leaks = find_leaks(suite.canaries, scanned)
    assert leaks == [], "\n".join(f"{x.canary} ({x.form}) in {x.where}" for x in leaks)


def test_every_flow_ran_and_the_suite_stays_fast(suite: Suite) -> None:
    print("canary suite timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in suite.timings.items()))
    assert set(suite.timings) >= {
        "demo on the local backend",
        "launcher on Kubernetes",
        "vault KV + dynamic credentials",
        "rotation (CLI + sensor)",
        "CLI",
    }
    # the module's Job / ConfigMap / Event objects were among what was scanned
    where = {a.where for a in suite.artifacts if a.kind == "apiserver"}
    assert {"/apis/batch/v1/jobs", "/api/v1/configmaps", "/api/v1/events", "/api/v1/pods"} <= where
    assert "/api/v1/secrets" not in where


# --- the scanner can fail: one planted leak per artifact class -----------------------------------


def _planted() -> str:
    # hex: the apiserver-audit kind plants it as a label value, which must be alphanumeric at
    # both ends (token_urlsafe may end in '-' or '_': a 400, about one run in 16)
    return f"planted{secrets.token_hex(18)}"


def _b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def _plant(kind: str, value: str, suite: Suite, kube: Any, bao: Any, pg: Any) -> list[Artifact]:
    tmp = suite.tmp / f"plant-{kind}"
    tmp.mkdir()
    assert suite.env is not None
    if kind == "sqlite":  # a compressed blob, as Dagster stores snapshots
        db = tmp / "planted.db"
        conn = sqlite3.connect(db)
        conn.execute("CREATE TABLE snapshots (body BLOB)")
        conn.execute("INSERT INTO snapshots VALUES (?)", (zlib.compress(value.encode()),))
        conn.commit()
        conn.close()
        return sqlite_artifacts([tmp])
    if kind == "postgres":
        conn = psycopg2.connect(suite.env.dsn)
        conn.autocommit = True
        table = f"planted_{secrets.token_hex(4)}"
        with conn.cursor() as cur:
            cur.execute(f'CREATE TABLE "{table}" (body text)')
            insert = f'INSERT INTO "{table}" VALUES (%s)'  # noqa: S608 - our own table name
            cur.execute(insert, (urllib.parse.quote(value),))
        try:
            return postgres_artifacts(suite.env.dsn)
        finally:
            with conn.cursor() as cur:
                cur.execute(f'DROP TABLE "{table}"')
            conn.close()
    if kind in ("compute-logs", "dbt", "generated-files", "node"):
        (tmp / "step.out").write_text(f"line\n{_b64(value)}\n")
        return file_artifacts([tmp], kind=kind)
    if kind == "apiserver":
        core = k8s.CoreV1Api(kube.api_client())
        name = f"planted-{secrets.token_hex(4)}"
        core.create_namespaced_config_map(
            suite.env.namespace, {"metadata": {"name": name}, "binaryData": {"k": _b64(value)}}
        )
        try:
            return apiserver_artifacts(kube.api_client())
        finally:
            core.delete_namespaced_config_map(name, suite.env.namespace)
    if kind in ("cli", "pod-output", "python-logs"):
        return [text_artifact(kind, "planted", f"Error: wrong password {value}")]
    if kind == "exceptions":
        try:
            try:
                raise ValueError(f"driver said: bad password {value}")
            except ValueError as inner:
                raise FloeSecretsError("login failed", fix="check it") from inner
        except FloeSecretsError as e:
            return [exception_artifact("planted", e)]  # the value is only in the cause
    if kind == "openbao-audit":
        with pytest.raises(Exception):  # noqa: B017, PT011 - 404 or 403: only the path matters
            bao.request("GET", f"secret/data/{value}")
        return [openbao_audit_artifact(bao.audit_log)]
    if kind == "secret-events":  # an observation of a secret asset, metadata holding a value
        with instance_for_test(temp_dir=str(tmp)) as instance:
            instance.report_runless_asset_event(
                AssetObservation(asset_key=["secrets", "planted"], metadata={"version": value})
            )
            return secret_event_artifacts(instance)
    if kind == "apiserver-audit":  # Metadata level logs the request URI: plant it there
        k8s.CoreV1Api(kube.api_client()).list_namespaced_config_map(
            suite.env.namespace, label_selector=f"planted={value}"
        )
        deadline = time.monotonic() + 30
        while value not in kube.audit_log.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        return [apiserver_audit_artifact(kube.audit_log)]
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", KINDS)
def test_the_scanner_finds_a_planted_leak(
    suite: Suite, kind: str, kube_apiserver: Any, openbao_server: Any, postgres_server: Any
) -> None:
    value = _planted()
    artifacts = _plant(kind, value, suite, kube_apiserver, openbao_server, postgres_server)
    leaks = find_leaks({"planted": value}, artifacts)
    assert leaks, f"a leak planted in {kind} was not found"
    assert {leak.kind for leak in leaks} == {kind}
    # and the real canaries are still absent from the same artifacts
    real = [a for a in artifacts if a.kind == kind]
    assert find_leaks(suite.canaries, real) == []
