"""Time from ``floe secrets rotate`` to the new value in the Kubernetes Secret, with ESO.

Starts the real servers the tests use (kube-apiserver + etcd, OpenBao, the ESO controller built by
``tools/test-servers/build-eso.sh``), creates a Vault ClusterSecretStore with Kubernetes auth, and
measures in the same run:

- ours: ``ESOSecretsPlugin.update_secret`` (write to OpenBao, ``force-sync`` annotation, wait for
  ESO) until the synced Secret holds the new value — in process, and once through the ``floe``
  CLI as a real subprocess;
- baseline A (ESO without floe's forced sync): the value written to OpenBao only, arriving when
  the controller's own refresh comes round (``refreshInterval`` ``--refresh``, default 10s);
- baseline B (no ESO): a plain Kubernetes Secret rotated with the k8s backend
  (``K8sSecretsPlugin.update_secret``) until a read returns the new value.

Each figure is the median of ``--repeat`` rotations. Run:
``.venv/bin/python benchmarks/eso_rotation.py``. The last lines are
``eso_rotate_vs_periodic_refresh=<ours/A>`` and ``eso_rotate_vs_k8s_rotate=<ours/B>``.
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

from floe_dagster_secrets.backends.eso import ESOSecretsPlugin
from floe_dagster_secrets.backends.kubernetes import K8sSecretsPlugin
from tests.integration.vault_helpers import kubernetes_auth_mount, put_policy
from tests.servers import KubeApiServer, OpenBaoServer
from tests.servers._process import clean_env
from tests.servers.eso import EsoController

KEY = "PASSWORD"


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
    core: k8s.CoreV1Api, namespace: str, name: str, value: str, timeout: float = 120
) -> None:
    deadline = time.monotonic() + timeout
    while secret_value(core, namespace, name) != value:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{name} did not get the new value within {timeout} s")
        time.sleep(0.02)


def timed(action: Callable[[str], None], arrived: Callable[[str], None]) -> float:
    value = f"bench{secrets.token_hex(12)}"
    start = time.perf_counter()
    action(value)
    arrived(value)
    return time.perf_counter() - start


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


def cli_rotate(workdir: Path, namespace: str, settings: dict[str, str], value: str) -> None:
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
    (workdir / "new.env").write_text(f"{KEY}={value}\n")
    floe = str(Path(sys.executable).parent / "floe")
    subprocess.run(
        [floe, "secrets", "rotate", "cli-bench-credentials", "--from-env-file", "new.env"],
        cwd=workdir,
        check=True,
        capture_output=True,
        timeout=180,
        env=clean_env({"HOME": str(workdir), "NO_COLOR": "1"}),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--refresh", default="10s", help="refreshInterval of baseline A")
    args = parser.parse_args()

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

            ours = ESOSecretsPlugin(**settings, sync_timeout=120)  # type: ignore[arg-type]
            ours.apply_cluster_secret_store()
            periodic = ESOSecretsPlugin(  # type: ignore[arg-type]
                **settings, refresh_interval=args.refresh, sync_timeout=120
            )
            for name, plugin in (
                ("forced-bench-credentials", ours),
                ("periodic-bench-credentials", periodic),
            ):
                plugin.create_secret(name, namespace, {KEY: secrets.token_hex(8)})
            ours.create_secret("cli-bench-credentials", namespace, {KEY: secrets.token_hex(8)})
            source = ours._source("forced-bench-credentials", namespace)
            plain = K8sSecretsPlugin(kubeconfig=str(api.admin_kubeconfig))
            plain.create_secret("plain-bench-credentials", namespace, {KEY: "x" * 12})

            def arrives(name: str) -> Callable[[str], None]:
                return lambda value: until_value(core, namespace, name, value)

            forced = [
                timed(
                    lambda v: ours.update_secret("forced-bench-credentials", namespace, {KEY: v}),
                    arrives("forced-bench-credentials"),
                )
                for _ in range(args.repeat)
            ]
            through_cli = [
                timed(
                    lambda v: cli_rotate(work, namespace, settings, v),
                    arrives("cli-bench-credentials"),
                )
                for _ in range(max(1, args.repeat // 2))
            ]
            refresh = [
                timed(
                    lambda v: source.update_secret(
                        "periodic-bench-credentials", namespace, {KEY: v}, merge=True
                    ),
                    arrives("periodic-bench-credentials"),
                )
                for _ in range(args.repeat)
            ]
            k8s_rotate = [
                timed(
                    lambda v: plain.update_secret("plain-bench-credentials", namespace, {KEY: v}),
                    arrives("plain-bench-credentials"),
                )
                for _ in range(args.repeat)
            ]
            ours.close()
            periodic.close()
            plain.close()
        finally:
            if controller is not None:
                controller.stop()
            bao.stop()
            api.stop()

    med = statistics.median
    print(
        f"ESO rotate (in process), write -> value in Secret: median {med(forced):.3f} s "
        f"(min {min(forced):.3f}, max {max(forced):.3f}, n={len(forced)})"
    )
    print(
        f"ESO rotate (floe CLI subprocess) -> value in Secret: median {med(through_cli):.3f} s "
        f"(n={len(through_cli)})"
    )
    print(
        f"baseline A, ESO periodic refresh ({args.refresh}), no force-sync: median "
        f"{med(refresh):.3f} s (min {min(refresh):.3f}, max {max(refresh):.3f})"
    )
    print(f"baseline B, plain k8s Secret rotate: median {med(k8s_rotate):.3f} s")
    print(f"eso_rotate_vs_periodic_refresh={med(forced) / med(refresh):.3f}")
    print(f"eso_rotate_vs_k8s_rotate={med(forced) / med(k8s_rotate):.3f}")


if __name__ == "__main__":
    main()
