"""``floe secrets rotate`` as users run it, per backend, until the new value can be read back.

Each rotation is the ``floe`` console script as a real subprocess, in a project directory holding
a ``manifest.yaml`` for its backend, reading the new value from an env file (the way the docs
tell users to pass credentials), timed from the process start until a read of the store returns
the new value (the CLI returns after the write, so the read answers at once):

- local: the local store (files);
- k8s: a Secret on the suite's real kube-apiserver — baseline: the idiom a Kubernetes user runs,
  ``kubectl create secret generic … --from-env-file … --dry-run=client -o yaml | kubectl apply
  -f -`` (the kubectl built with the apiserver);
- vault: a KV v2 secret on the suite's OpenBao (token login) — baseline: ``bao kv patch`` with
  the value read from a file (``KEY=@file``), the ``bao`` CLI of the suite.

Rotations alternate between tools, ``--repeat`` each; medians. ESO is timed by
``benchmarks/eso_rotation.py`` (it needs the ESO controller).

    .venv/bin/python benchmarks/rotate_latency.py [--repeat 5]

The last line is ``rotate_k8s_vs_kubectl_ratio=<floe on k8s / kubectl apply>`` (medians).
"""

from __future__ import annotations

import argparse
import base64
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kubernetes import client as k8s

from benchmarks._common import median, print_machine, require, spread
from floe_dagster_secrets.backends.local import LocalSecretsPlugin
from tests.servers import KubeApiServer, OpenBaoServer
from tests.servers._process import clean_env

FLOE = str(Path(sys.executable).parent / "floe")
BAO = str(Path(sys.executable).parent / "bao")
NAME, KEY = "bench-dev-credentials", "PASSWORD"
PREFIX = "bench/"


def manifest(backend: str, namespace: str, config: dict[str, str]) -> str:
    lines = "".join(f"      {k}: {v}\n" for k, v in config.items())
    return (
        "environment: dev\n"
        "plugins:\n"
        "  secrets:\n"
        f"    type: {backend}\n"
        f"    namespace: {namespace}\n"
        f"    config:\n{lines}"
        "  compute:\n"
        "    type: duckdb\n"
        f"    connection_secret_ref: {NAME}\n"
    )


def sh(command: list[str] | str, cwd: Path, env: dict[str, str]) -> None:
    done = subprocess.run(
        command,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        shell=isinstance(command, str),
    )
    require(done.returncode == 0, f"{command} failed ({done.returncode}): {done.stderr[-2000:]}")


def rotation(
    cwd: Path, command: list[str] | str, env: dict[str, str], read: Callable[[], str | None]
) -> float:
    """Seconds from starting ``command`` (new value in ``new.env``) to ``read()`` returning it."""
    value = f"bench{secrets.token_hex(12)}"
    (cwd / "new.env").write_text(f"{KEY}={value}\n")
    (cwd / "value.txt").write_text(value)
    started = time.perf_counter()
    sh(command, cwd, env)
    deadline = started + 60
    while read() != value:
        require(time.perf_counter() < deadline, f"{command}: value not readable after 60 s")
        time.sleep(0.01)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print_machine("start")
    with tempfile.TemporaryDirectory(prefix="floe-rotate-bench-") as tmp:
        root = Path(tmp)
        api = KubeApiServer(root / "apiserver")
        bao = OpenBaoServer(root / "openbao")
        try:
            api.start()
            bao.start()
            ns = api.create_namespace("bench-rotate")
            dirs = {name: root / name for name in ("local", "k8s", "vault", "home")}
            for d in dirs.values():
                d.mkdir()
            env = clean_env({"HOME": str(dirs["home"]), "NO_COLOR": "1"})
            vault_env = {**env, "FLOE_BENCH_VAULT_TOKEN": bao.root_token}
            bao_env = {**env, "BAO_ADDR": bao.address, "BAO_TOKEN": bao.root_token}
            configs = {
                "local": {"path": ".floe/secrets"},
                "k8s": {"kubeconfig": str(api.admin_kubeconfig)},
                "vault": {
                    "address": bao.address,
                    "auth_method": "token",
                    "token_env": "FLOE_BENCH_VAULT_TOKEN",
                    "secret_path_prefix": PREFIX,
                },
            }
            for backend, config in configs.items():
                (dirs[backend] / "manifest.yaml").write_text(manifest(backend, ns, config))
                sh(
                    [FLOE, "secrets", "create", NAME, "--from-literal", f"{KEY}=initial-value"],
                    dirs[backend],
                    vault_env,
                )
            local = LocalSecretsPlugin(path=dirs["local"] / ".floe" / "secrets")
            core = k8s.CoreV1Api(api.api_client())
            kv_path = f"secret/data/{PREFIX}{ns}/{NAME}"

            def read_local() -> str | None:
                return local.get_secret(NAME, ns)[KEY].reveal()

            def read_k8s() -> str | None:
                raw = (core.read_namespaced_secret(NAME, ns).data or {}).get(KEY)
                return base64.b64decode(raw).decode() if raw else None

            def read_vault() -> str | None:
                return str(bao.request("GET", kv_path)["data"]["data"][KEY])

            rotate = [FLOE, "secrets", "rotate", NAME, "--from-env-file", "new.env"]
            kubectl = f"{api.kubectl} --kubeconfig={api.admin_kubeconfig}"
            cases: dict[str, tuple[Path, list[str] | str, dict[str, str], Callable[[], str | None]]]
            cases = {
                "floe_local": (dirs["local"], rotate, env, read_local),
                "floe_k8s": (dirs["k8s"], rotate, env, read_k8s),
                "kubectl_apply": (
                    dirs["k8s"],
                    f"{kubectl} create secret generic {NAME} -n {ns} --from-env-file=new.env "
                    f"--dry-run=client -o yaml | {kubectl} apply -f -",
                    env,
                    read_k8s,
                ),
                "floe_vault": (dirs["vault"], rotate, vault_env, read_vault),
                "bao_kv_patch": (
                    dirs["vault"],
                    [
                        BAO,
                        "kv",
                        "patch",
                        "-mount=secret",
                        f"{PREFIX}{ns}/{NAME}",
                        f"{KEY}=@value.txt",
                    ],
                    bao_env,
                    read_vault,
                ),
            }
            for cwd, command, case_env, read in cases.values():  # warm-up
                rotation(cwd, command, case_env, read)
            times: dict[str, list[float]] = {label: [] for label in cases}
            for _ in range(args.repeat):
                for label, (cwd, command, case_env, read) in cases.items():
                    times[label].append(rotation(cwd, command, case_env, read))
        finally:
            bao.stop()
            api.stop()
    for label, values in times.items():
        print(f"{label}_rotate_s {spread(values)}")
    m = {label: median(values) for label, values in times.items()}
    print(f"rotate_vault_vs_bao_ratio={m['floe_vault'] / m['bao_kv_patch']:.2f}")
    print_machine("end")
    print(f"rotate_k8s_vs_kubectl_ratio={m['floe_k8s'] / m['kubectl_apply']:.2f}")


if __name__ == "__main__":
    main()
