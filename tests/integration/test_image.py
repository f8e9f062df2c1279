"""The user-code image, run for real: containerd + runc, started here, run the repository's image.

The image is built by ``tools/image/build-image.sh`` (cached by the hash of what goes into it)
and imported into a containerd this module starts with its root and state under pytest's tmp
directory, in a namespace of its own; everything is stopped and removed afterwards (including the
cgroups ``ctr run`` leaves under each v1 hierarchy).

What it proves: the image carries dagster, dbt and every import a run pod needs; the demo code
location serves as a code server and runs its job end to end as the image's unprivileged user;
and no layer holds the host's CA bundle (the build's pip secret) or a credential from the
environment the build ran in.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers._process import ManagedProcess, ServerStartError, free_port
from tests.servers.binaries import REPO_ROOT, cache_dir
from tests.servers.image import ensure_user_code_image

# The first test's setup may build the image (minutes when the tree changed since
# .ci/setup-test-servers.sh built it): pytest-timeout counts fixture setup.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(1500)]

NAMESPACE = "floe-image-test"
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
DAGSTER_VERSION = "1.13.27"
# Environment variables whose value must never be found in an image layer.
CREDENTIAL_NAME = re.compile(r"TOKEN|SECRET|PASSW|CREDENTIAL|API_?KEY|PRIVATE|AUTH", re.IGNORECASE)
CGROUP_ROOT = Path("/sys/fs/cgroup")


@dataclass
class Containerd:
    """A containerd started for this module, and ``ctr`` against it in NAMESPACE."""

    socket: Path
    process: ManagedProcess

    def ctr(self, *args: str, timeout: float = 300, check: bool = True) -> str:
        result = subprocess.run(
            ["ctr", "--address", str(self.socket), "--namespace", NAMESPACE, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            output = f"{result.stdout}\n{result.stderr}"
            raise AssertionError(f"ctr {' '.join(args)} exited {result.returncode}:\n{output}")
        return result.stdout + result.stderr

    def remove_container(self, name: str) -> None:
        """Kill the container's task, if any, and delete the container."""
        self.ctr("tasks", "rm", "--force", name, check=False)
        self.ctr("containers", "rm", name, check=False)


def _remove_cgroups() -> None:
    """The empty cgroups ``ctr run`` leaves at ``/<namespace>/<id>`` under each v1 hierarchy."""
    for parent in CGROUP_ROOT.glob(f"*/{NAMESPACE}"):
        for child in sorted(parent.rglob("*"), key=lambda p: len(p.parts), reverse=True):
            if child.is_dir():
                with contextlib.suppress(OSError):
                    child.rmdir()
        with contextlib.suppress(OSError):
            parent.rmdir()


@pytest.fixture(scope="module")
def containerd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Containerd]:
    for tool in ("containerd", "ctr", "runc"):
        if shutil.which(tool) is None:
            raise ServerStartError(
                f"{tool} not found: run `bash .ci/setup-test-servers.sh` as root (installs it)"
            )
    base = tmp_path_factory.mktemp("image-containerd")
    # containerd's root (content store + unpacked snapshot, 1.5 GB) on a tmpfs: this disk is
    # mounted with `discard`, where importing takes half a minute and deleting a minute.
    root = base / "root"
    root.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "mode=0700", "floe-image-test", str(root)], check=True
    )
    socket = base / "containerd.sock"
    config = base / "config.toml"
    config.write_text(
        "version = 2\n"
        f'root = "{root}"\n'
        f'state = "{base / "state"}"\n'
        # Only `ctr run` here: the CRI plugin (and its network set-up) is not needed.
        'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
        "[grpc]\n"
        f'  address = "{socket}"\n'
    )
    process = ManagedProcess(
        "containerd",
        ["containerd", "--config", str(config), "--log-level", "warn"],
        log_file=base / "containerd.log",
    )
    daemon = Containerd(socket=socket, process=process)
    try:
        process.start()
        process.wait_ready(
            lambda: daemon.ctr("version", timeout=5, check=False).count("Version") >= 2,
            timeout=30,
        )
        yield daemon
    finally:
        if process.running():
            for name in daemon.ctr("containers", "ls", "-q", check=False).split():
                daemon.remove_container(name)
        process.stop()
        _remove_cgroups()
        if subprocess.run(["umount", "-R", str(root)], check=False).returncode != 0:
            subprocess.run(["umount", "-R", "-l", str(root)], check=True)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def image(containerd: Containerd) -> str:
    return ensure_user_code_image(containerd.socket, namespace=NAMESPACE)


def _run(containerd: Containerd, image: str, *argv: str, env: Iterable[str] = ()) -> str:
    """Run ``argv`` in a fresh container of ``image`` (host network) and return its output."""
    env_args = [arg for value in env for arg in ("--env", value)]
    name = f"t-{uuid.uuid4().hex[:10]}"
    return containerd.ctr("run", "--rm", "--net-host", *env_args, image, name, *argv, timeout=600)


def test_image_holds_dagster_dbt_and_every_run_pod_import(
    containerd: Containerd, image: str
) -> None:
    out = _run(
        containerd,
        image,
        "/bin/sh",
        "-c",
        "id -u; pwd; echo DAGSTER_HOME=$DAGSTER_HOME; dagster --version; dbt --version; "
        # The run worker's entry point (the real run is the node's e2e: the launcher starts it).
        "dagster api execute_run --help >/dev/null && echo execute_run ok; "
        'python -c "import floe_dagster_secrets, dagster_k8s, dagster_dbt, dagster_postgres, '
        'hvac, psycopg2, duckdb; print(\\"imports ok\\")"',
    )
    assert out.splitlines()[:3] == [
        "10001",
        "/opt/floe/project",
        "DAGSTER_HOME=/opt/dagster/dagster_home",
    ]
    assert f"dagster, version {DAGSTER_VERSION}" in out
    assert re.search(r"- duckdb: +1\.11\.", out), out
    assert re.search(r"- postgres: +1\.11\.", out), out
    assert "imports ok" in out
    assert "execute_run ok" in out


# What dagster-k8s's launcher does for a run, inside the image: create the run in the instance
# (DAGSTER_HOME's), then start the run worker with the launcher's own command line,
# `dagster api execute_run <ExecuteRunArgs>`. Private dagster modules, as the launcher uses them.
RUN_WORKER_SCRIPT = """
import json
import subprocess
from dagster import DagsterEventType, DagsterInstance
from dagster._core.definitions.reconstruct import ReconstructableRepository
from dagster._grpc.types import ExecuteRunArgs

repo = ReconstructableRepository.for_module(
    "definitions.definitions", "defs", working_directory="/opt/floe/project"
)
job = repo.get_reconstructable_job("floe_demo_job")
instance = DagsterInstance.get()
origin = job.get_python_origin()
run = instance.create_run_for_job(job_def=job.get_definition(), job_code_origin=origin)
argv = ExecuteRunArgs(
    job_origin=origin, run_id=run.run_id, instance_ref=instance.get_ref(),
    set_exit_code_on_failure=True,
).get_command_args()
print("ARGV", argv[:3], flush=True)
code = subprocess.run(argv).returncode
print("EXIT", code, "STATUS", instance.get_run_by_id(run.run_id).status.value, flush=True)
records = instance.get_records_for_run(
    run.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION, limit=1000
).records
keys = sorted(r.event_log_entry.dagster_event.asset_key.to_user_string() for r in records)
print("MATERIALIZED", json.dumps(keys), flush=True)
"""


def test_run_worker_executes_the_demo_run_as_the_unprivileged_user(
    containerd: Containerd, image: str
) -> None:
    """``dagster api execute_run``: dbt seeds, models and tests on an encrypted DuckDB.

    The key arrives the way a run pod gets it (``DBT_ENV_SECRET_…`` in the environment) and is
    never printed; dbt writes ``target/`` and the warehouse as UID 10001.
    """
    key = f"image-canary-{uuid.uuid4().hex}"
    out = _run(
        containerd,
        image,
        "python",
        "-c",
        RUN_WORKER_SCRIPT,
        env=[f"DBT_ENV_SECRET_DUCKDB_ENCRYPTION_KEY={key}"],
    )
    assert "ARGV ['dagster', 'api', 'execute_run']" in out, out[-4000:]
    assert "EXIT 0 STATUS SUCCESS" in out, out[-4000:]
    # From the run's event log in the instance, not from the printed log lines.
    line = next(line for line in out.splitlines() if line.startswith("MATERIALIZED "))
    assert json.loads(line.removeprefix("MATERIALIZED ")) == [
        "customer_lifetime_value",
        "int_customer_orders",
        "raw/raw_customers",
        "raw/raw_orders",
        "stg_customers",
        "stg_orders",
    ], out[-4000:]
    assert key not in out


def test_code_server_answers_health_check(containerd: Containerd, image: str) -> None:
    port = free_port()
    name = f"cs-{uuid.uuid4().hex[:10]}"
    containerd.ctr(
        "run",
        "--detach",
        "--net-host",
        image,
        name,
        "dagster",
        "api",
        "grpc",
        "-m",
        "definitions.definitions",
        "-a",
        "defs",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            check = subprocess.run(
                [
                    str(REPO_ROOT / ".venv" / "bin" / "dagster"),
                    "api",
                    "grpc-health-check",
                    "-p",
                    str(port),
                ],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            if check.returncode == 0:
                break
            if time.monotonic() > deadline:
                logs = containerd.ctr("tasks", "ls", check=False)
                raise AssertionError(f"code server not healthy after 120 s: {check.stderr}\n{logs}")
            time.sleep(1)
        # Healthy is not enough: the server also answers when the definitions fail to load. Ask
        # it, from a second container on the host network, for its repositories.
        inside = _run(
            containerd,
            image,
            "python",
            "-c",
            "from dagster._grpc.client import DagsterGrpcClient; "
            f"print(DagsterGrpcClient(port={port}, host='127.0.0.1').list_repositories())",
        )
        response = json.loads(inside.strip().splitlines()[-1])
        assert response["__class__"] == "ListRepositoriesResponse", inside
        assert [r["attribute"] for r in response["repository_symbols"]] == ["defs"], inside
    finally:
        containerd.remove_container(name)


# --- what the layers hold -------------------------------------------------------------------


@dataclass
class Finding:
    layer: str
    path: str
    what: str


def _pem_bodies(bundle: bytes) -> set[bytes]:
    """Each certificate of a PEM bundle, as its base64 body without line breaks."""
    blocks = re.findall(
        rb"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", bundle, flags=re.S
    )
    return {re.sub(rb"\s+", b"", block) for block in blocks}


def _needle(body: bytes) -> bytes:
    """A 64-character line from the middle of a certificate: how PEM files store it."""
    middle = (len(body) // 2) // 64 * 64
    return body[middle : middle + 64]


# Where the build's secret and pip's cache mount are: no file may be left there.
BUILD_ONLY_PATHS = ("run/secrets/", "root/.cache/pip/")


def scan_layers(
    layers: Iterable[tuple[str, tarfile.TarFile]], needles: dict[bytes, str], bundle_digest: str
) -> list[Finding]:
    """Every file of every layer that is the bundle, holds a needle, or lies in BUILD_ONLY_PATHS."""
    findings = []
    for layer_name, layer in layers:
        for member in layer:
            if not member.isfile():
                continue
            path = member.name.removeprefix("./")
            if path.startswith(BUILD_ONLY_PATHS):
                findings.append(Finding(layer_name, path, "a file in a build-only mount point"))
            handle = layer.extractfile(member)
            if handle is None:
                continue
            data = handle.read()
            if hashlib.sha256(data).hexdigest() == bundle_digest:
                findings.append(Finding(layer_name, path, "the host's CA bundle"))
            for needle, what in needles.items():
                if needle in data:
                    findings.append(Finding(layer_name, path, what))
    return findings


@dataclass
class OciArchive:
    path: Path
    manifest_digest: str
    config: dict[str, object]
    layer_digests: list[str]

    @contextlib.contextmanager
    def layers(self) -> Iterator[Iterator[tuple[str, tarfile.TarFile]]]:
        with tarfile.open(self.path) as archive:

            def each() -> Iterator[tuple[str, tarfile.TarFile]]:
                for digest in self.layer_digests:
                    blob = archive.extractfile(f"blobs/sha256/{digest.split(':', 1)[1]}")
                    assert blob is not None
                    with tarfile.open(fileobj=blob, mode="r|*") as layer:
                        yield digest, layer

            yield each()


def _open_archive(image: str) -> OciArchive:
    tag = image.rsplit(":", 1)[1]
    path = cache_dir() / "images" / f"user-code-{tag}.oci.tar"
    with tarfile.open(path) as archive:

        def blob(digest: str) -> dict[str, object]:
            handle = archive.extractfile(f"blobs/sha256/{digest.split(':', 1)[1]}")
            assert handle is not None
            return dict(json.load(handle))

        index = json.load(archive.extractfile("index.json"))  # type: ignore[arg-type]
        manifest_digest = index["manifests"][0]["digest"]
        manifest = blob(manifest_digest)
        config = blob(manifest["config"]["digest"])  # type: ignore[index]
        layers = [layer["digest"] for layer in manifest["layers"]]  # type: ignore[attr-defined]
    return OciArchive(path, manifest_digest, config, layers)


def _image_bundle(archive: OciArchive) -> bytes:
    """The image's own CA bundle (Debian's), from the last layer that writes it."""
    found = b""
    with archive.layers() as layers:
        for _, layer in layers:
            for member in layer:
                if (
                    member.isfile()
                    and member.name.removeprefix("./") == "etc/ssl/certs/ca-certificates.crt"
                ):
                    handle = layer.extractfile(member)
                    found = handle.read() if handle else found
    return found


def test_scanner_finds_a_planted_bundle_and_credential() -> None:
    """The layer scan below can fail: a layer holding the bundle and a token is reported."""
    bundle = HOST_CA_BUNDLE.read_bytes()
    layer_bytes = io.BytesIO()
    with tarfile.open(fileobj=layer_bytes, mode="w") as layer:
        planted = [
            ("etc/pip/ca.crt", bundle),
            ("root/.env", b"TOKEN=s.planted-credential\n"),
            ("root/.cache/pip/http/0/1", b"cached"),
        ]
        for name, data in planted:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            layer.addfile(info, io.BytesIO(data))
    layer_bytes.seek(0)
    with tarfile.open(fileobj=layer_bytes) as layer:
        findings = scan_layers(
            [("planted", layer)],
            {b"s.planted-credential": "a credential"},
            hashlib.sha256(bundle).hexdigest(),
        )
    assert {(f.path, f.what) for f in findings} >= {
        ("etc/pip/ca.crt", "the host's CA bundle"),
        ("root/.env", "a credential"),
        ("root/.cache/pip/http/0/1", "a file in a build-only mount point"),
    }


def test_image_layers_hold_no_ca_bundle_copy_or_credential(
    containerd: Containerd, image: str
) -> None:
    archive = _open_archive(image)
    # The archive the test reads is the image containerd runs.
    listed = containerd.ctr("images", "ls")
    assert any(
        line.split()[:1] == [image] and archive.manifest_digest in line
        for line in listed.splitlines()
    ), listed

    host_bundle = HOST_CA_BUNDLE.read_bytes()
    # Certificates only the host trusts (the TLS proxy's CA): their PEM lines must be nowhere.
    host_only = _pem_bodies(host_bundle) - _pem_bodies(_image_bundle(archive))
    needles = {_needle(body): "a certificate only the host's bundle holds" for body in host_only}
    # Credential-looking values of the environment the build ran in.
    for name, value in os.environ.items():
        if CREDENTIAL_NAME.search(name) and len(value) >= 8:
            needles[value.encode()] = f"the value of ${name}"

    with archive.layers() as layers:
        findings = scan_layers(layers, needles, hashlib.sha256(host_bundle).hexdigest())
    assert findings == []

    config = archive.config.get("config", {})
    assert isinstance(config, dict)
    env = dict(item.split("=", 1) for item in config.get("Env", []))
    assert not [name for name in env if CREDENTIAL_NAME.search(name) or "CERT" in name], env
    assert env["DBT_SEND_ANONYMOUS_USAGE_STATS"] == "false"
    assert config.get("User") == "10001"
    history = json.dumps(archive.config.get("history", []))
    # The secret was used as a mount (and, per the scan above, left nothing behind).
    assert "PIP_CERT=/run/secrets/pipcert" in history
