"""``floe secrets rotate`` on the External Secrets Operator backend, until ESO has the new value
in the Kubernetes Secret, against a competent ESO user doing the same by hand.

Starts the real servers the tests use (kube-apiserver + etcd, OpenBao, the ESO controller built by
``tools/test-servers/build-eso.sh``), creates a Vault ClusterSecretStore with Kubernetes auth and
one ExternalSecret per case, and times, in the same run, from the first process started until a
read of the synced Secret returns the new value:

- ours: the ``floe`` CLI as a real subprocess (``floe secrets rotate NAME --from-env-file``, a
  manifest with ``type: external-secrets``): writes OpenBao, sets ESO's ``force-sync``
  annotation, waits for the sync;
- baseline (the headline): the same by hand — ``bao kv patch`` (value from a file) then
  ``kubectl annotate externalsecret NAME force-sync=<now> --overwrite``, ESO's documented way to
  refresh now;
- for scale, not a ratio: the value written with ``bao kv patch`` only, arriving when ESO's own
  refresh comes round, with a ``refreshInterval`` a user would set (``--refresh``, default
  ``1m``). ESO's default interval, ``1h``, is not waited for: without a forced sync a rotation
  reaches the Secret somewhere in the hour after the write (printed as such, not measured).

Each figure is the median of ``--repeat`` rotations (``--periodic-repeat`` for the periodic
case). Run: ``.venv/bin/python benchmarks/eso_rotation.py``. The last line is
``eso_cli_rotate_vs_manual_force_sync=<ours/baseline>``.
"""

from __future__ import annotations

import argparse
import base64
import secrets
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kubernetes import client as k8s

from benchmarks._common import print_machine, require, spread
from floe_dagster_secrets.backends.eso import ESOSecretsPlugin
from tests.integration.vault_helpers import kubernetes_auth_mount, put_policy
from tests.servers import KubeApiServer, OpenBaoServer
from tests.servers._process import clean_env
from tests.servers.eso import EsoController

KEY = "PASSWORD"
BAO = str(Path(sys.executable).parent / "bao")
ESO_DEFAULT_REFRESH_S = 3600


def secret_value(core: k8s.CoreV1Api, namespace: str, name: str) -> str | None:
    try:
        secret = core.read_namespaced_secret(name, namespace)
    except k8s.ApiException as e:
        if e.status == 404:
            return None
        raise
    raw = (secret.data or {}).get(KEY)
    return base64.b64decode(raw).decode() if raw else None


def until_value(
    core: k8s.CoreV1Api, namespace: str, name: str, value: str, timeout: float = 180
) -> None:
    deadline = time.monotonic() + timeout
    while secret_value(core, namespace, name) != value:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{name} did not get the new value within {timeout} s")
        time.sleep(0.02)


def timed(workdir: Path, action: Callable[[], None], arrived: Callable[[str], None]) -> float:
    """Seconds from ``action()`` (new value in ``new.env``/``value.txt``) to its arrival."""
    value = f"bench{secrets.token_hex(12)}"
    (workdir / "new.env").write_text(f"{KEY}={value}\n")
    (workdir / "value.txt").write_text(value)
    start = time.perf_counter()
    action()
    arrived(value)
    return time.perf_counter() - start


def run(command: list[str], workdir: Path, env: dict[str, str]) -> None:
    done = subprocess.run(
        command, cwd=workdir, env=env, capture_output=True, text=True, timeout=180
    )
    require(
        done.returncode == 0, f"{command[:3]} failed ({done.returncode}): {done.stderr[-2000:]}"
    )


def vault_store(
    api: KubeApiServer, bao: OpenBaoServer, namespace: str, token_file: Path
) -> dict[str, str]:
    """A Vault ClusterSecretStore's settings, as the ESO test fixture builds them."""
    mount = kubernetes_auth_mount(bao, api, namespace)
    put_policy(
        bao, "eso-bench", f'path "secret/data/floe/{namespace}/*" {{ capabilities = ["read"] }}'
    )
    bao.request(
        "POST",
        f"auth/{mount}/role/eso",
        {
            "bound_service_account_names": ["eso-reader"],
            "bound_service_account_namespaces": [namespace],
            "token_policies": ["eso-bench"],
        },
    )
    api.service_account_token(namespace, "eso-reader")
    token_file.write_text(bao.root_token)
    return {
        "store": f"vault-{namespace}",
        "provider": "vault",
        "vault_address": bao.address,
        "vault_role": "eso",
        "vault_auth_mount": mount,
        "service_account": "eso-reader",
        "service_account_namespace": namespace,
        "vault_token_file": str(token_file),
        "kubeconfig": str(api.admin_kubeconfig),
    }


def write_manifest(workdir: Path, namespace: str, settings: dict[str, str]) -> None:
    config = "\n".join(f"      {k}: {v}" for k, v in settings.items())
    (workdir / "manifest.yaml").write_text(
        textwrap.dedent(
            f"""\
            environment: dev
            plugins:
              secrets:
                type: external-secrets
                namespace: {namespace}
                config:
            {{config}}
              compute:
                type: duckdb
                connection_secret_ref: cli-bench-credentials
            """
        ).replace("{config}", config)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--refresh", default="1m", help="refreshInterval a user would set")
    parser.add_argument("--periodic-repeat", type=int, default=3)
    args = parser.parse_args()
    print_machine("start")
    with tempfile.TemporaryDirectory(prefix="eso-bench-") as tmp:
        work = Path(tmp)
        api = KubeApiServer(work / "apiserver")
        bao = OpenBaoServer(work / "openbao")
        controller: EsoController | None = None
        try:
            api.start()
            bao.start()
            controller = EsoController(work / "eso", api)
            controller.start()
            namespace = api.create_namespace("bench-eso")
            core = k8s.CoreV1Api(api.api_client())
            settings = vault_store(api, bao, namespace, work / "token")
            write_manifest(work, namespace, settings)
            env = clean_env({"HOME": str(work), "NO_COLOR": "1"})
            bao_env = {**env, "BAO_ADDR": bao.address, "BAO_TOKEN": bao.root_token}
            kubectl = [str(api.kubectl), f"--kubeconfig={api.admin_kubeconfig}", "-n", namespace]

            forced = ESOSecretsPlugin(**settings, sync_timeout=120)  # type: ignore[arg-type]
            forced.apply_cluster_secret_store()
            periodic = ESOSecretsPlugin(  # type: ignore[arg-type]
                **settings, refresh_interval=args.refresh, sync_timeout=120
            )
            cases = {
                "cli": ("cli-bench-credentials", forced),
                "manual": ("manual-bench-credentials", forced),
                "periodic": ("periodic-bench-credentials", periodic),
            }
            for name, plugin in cases.values():
                plugin.create_secret(name, namespace, {KEY: secrets.token_hex(8)})
            floe = str(Path(sys.executable).parent / "floe")

            def arrives(name: str) -> Callable[[str], None]:
                return lambda value: until_value(core, namespace, name, value)

            def patch(name: str) -> None:
                key = forced.remote_key(name, namespace)
                run([BAO, "kv", "patch", "-mount=secret", key, f"{KEY}=@value.txt"], work, bao_env)

            def cli() -> None:
                rotate = [
                    "secrets",
                    "rotate",
                    "cli-bench-credentials",
                    "--from-env-file",
                    "new.env",
                ]
                run([floe, *rotate], work, env)

            def manual() -> None:
                patch("manual-bench-credentials")
                stamp = f"force-sync={time.time():.6f}"
                annotate = ["annotate", "externalsecret", "manual-bench-credentials", stamp]
                run([*kubectl, *annotate, "--overwrite"], work, env)

            timed(work, cli, arrives("cli-bench-credentials"))  # warm-up
            timed(work, manual, arrives("manual-bench-credentials"))
            through_cli: list[float] = []
            by_hand: list[float] = []
            for _ in range(args.repeat):
                through_cli.append(timed(work, cli, arrives("cli-bench-credentials")))
                by_hand.append(timed(work, manual, arrives("manual-bench-credentials")))
            refresh = [
                timed(
                    work,
                    lambda: patch("periodic-bench-credentials"),
                    arrives("periodic-bench-credentials"),
                )
                for _ in range(args.periodic_repeat)
            ]
            forced.close()
            periodic.close()
        finally:
            if controller is not None:
                controller.stop()
            bao.stop()
            api.stop()

    med = statistics.median
    print(f"floe secrets rotate (CLI subprocess) -> value in Secret: {spread(through_cli)} s")
    print(f"bao kv patch + kubectl annotate force-sync -> value in Secret: {spread(by_hand)} s")
    print(
        f"bao kv patch, ESO refreshInterval {args.refresh}, no forced sync -> value in Secret: "
        f"{spread(refresh)} s"
    )
    print(
        "ESO default refreshInterval 1h, no forced sync: the value arrives "
        f"0-{ESO_DEFAULT_REFRESH_S} s after the write (uniform over the interval; not measured)"
    )
    print_machine("end")
    print(f"eso_cli_rotate_vs_manual_force_sync={med(through_cli) / med(by_hand):.3f}")


if __name__ == "__main__":
    main()
