"""Wall time of ``floe secrets list`` as users run it, against ``kubectl get secrets``.

Each command is a real subprocess, started the way a user starts it (the venv's ``floe`` console
script, the kubectl built with the suite's apiserver), in a project directory holding a
``manifest.yaml``:

- local: a manifest with ``type: local`` and a store of N secrets (``.floe/secrets``);
- apiserver: a manifest with ``type: k8s`` (the admin kubeconfig) and a namespace of the
  suite's real kube-apiserver holding the same N secrets;
- baseline: ``kubectl get secrets -n <namespace>`` on that namespace (same kubeconfig).

Every command runs once to warm up (kubectl's discovery cache, the OS file cache, .pyc files),
then ``--runs`` times, all alternating so machine noise falls on all of them. For scale, the
same loop times three Python floors, none of which lists anything:

- ``python``: the interpreter's own start (``python -c pass``);
- ``python_tls_floor``: the interpreter and the least any Python HTTPS client of the apiserver
  imports (``ssl``, ``http.client``, ``json``, ``yaml`` for the kubeconfig);
- ``python_urllib3_floor``: the same with ``urllib3`` instead of ``http.client`` — what the
  ``kubernetes`` client and floe's retry layer send requests through.

Each command's CPU time (user + system, from ``getrusage``) is printed next to its wall time: on
a loaded shared machine it shows what the command costs when it has a core to itself. Targets:
local ≤ 0.2 s; apiserver within 2× of kubectl.

    .venv/bin/python benchmarks/cli_latency.py [--runs 7] [--secrets 20]

The last line is ``cli_list_vs_kubectl_ratio=<floe on the apiserver / kubectl>`` (medians).
"""

from __future__ import annotations

import argparse
import resource
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import median, print_machine, require, spread, timed
from floe_dagster_secrets.backends.kubernetes import K8sSecretsPlugin
from floe_dagster_secrets.backends.local import LocalSecretsPlugin
from tests.servers import KubeApiServer
from tests.servers._process import clean_env

FLOE = str(Path(sys.executable).parent / "floe")
FLOORS = {
    "python": "pass",
    "python_tls_floor": "import json, ssl, http.client, yaml",
    "python_urllib3_floor": "import json, ssl, urllib3, yaml",
}
"""Python processes that list nothing, timed in the same loop for scale (see the docstring)."""


def manifest(backend: str, namespace: str, config: str) -> str:
    return (
        "environment: dev\n"
        "plugins:\n"
        "  secrets:\n"
        f"    type: {backend}\n"
        f"    namespace: {namespace}\n"
        f"    config:\n{config}"
        "  compute:\n"
        "    type: duckdb\n"
        "    connection_secret_ref: s000-dev-credentials\n"
    )


def child_cpu() -> float:
    """User + system CPU seconds of the waited-for children so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(command: list[str], cwd: Path, env: dict[str, str], expect: str) -> float:
    """Run ``command``; check it listed ``expect``; return the CPU seconds it used."""
    before = child_cpu()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
    used = child_cpu() - before
    require(
        done.returncode == 0 and expect in done.stdout,
        f"{' '.join(command)} failed ({done.returncode}): {done.stderr[-2000:]}",
    )
    return used


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--secrets", type=int, default=20, help="N: secrets in store/namespace")
    args = parser.parse_args()
    names = [f"s{i:03d}-dev-credentials" for i in range(args.secrets)]
    print_machine("start")
    with tempfile.TemporaryDirectory(prefix="floe-cli-bench-") as tmp:
        root = Path(tmp)
        server = KubeApiServer(root / "apiserver")
        server.start()
        try:
            namespace = server.create_namespace("bench-cli")
            plugin = K8sSecretsPlugin(kubeconfig=str(server.admin_kubeconfig))
            local_dir, k8s_dir, home = root / "local", root / "k8s", root / "home"
            for d in (local_dir, k8s_dir, home):
                d.mkdir()
            local = LocalSecretsPlugin(path=local_dir / ".floe" / "secrets")
            for name in names:
                data = {"PASSWORD": secrets.token_hex(8)}
                plugin.create_secret(name, namespace, data)
                local.create_secret(name, namespace, data)
            plugin.close()
            (local_dir / "manifest.yaml").write_text(
                manifest("local", namespace, "      path: .floe/secrets\n")
            )
            (k8s_dir / "manifest.yaml").write_text(
                manifest("k8s", namespace, f"      kubeconfig: {server.admin_kubeconfig}\n")
            )
            env = clean_env({"HOME": str(home), "NO_COLOR": "1"})
            commands = {
                "floe_local": ([FLOE, "secrets", "list"], local_dir),
                "floe_apiserver": ([FLOE, "secrets", "list"], k8s_dir),
                "kubectl": (
                    [
                        str(server.kubectl),
                        f"--kubeconfig={server.admin_kubeconfig}",
                        "get",
                        "secrets",
                        "-n",
                        namespace,
                    ],
                    k8s_dir,
                ),
            }
            floors = {label: [sys.executable, "-c", code] for label, code in FLOORS.items()}
            for command, cwd in commands.values():  # warm-up
                run(command, cwd, env, names[-1])
            for command in floors.values():
                subprocess.run(command, check=True)
            labels = [*commands, *floors]
            times: dict[str, list[float]] = {label: [] for label in labels}
            cpu: dict[str, list[float]] = {label: [] for label in labels}
            for _ in range(args.runs):
                for label, (command, cwd) in commands.items():
                    used: list[float] = []
                    times[label].append(
                        timed(lambda c=command, d=cwd, u=used: u.append(run(c, d, env, names[-1])))
                    )
                    cpu[label].extend(used)
                for label, command in floors.items():
                    before = child_cpu()
                    times[label].append(
                        timed(lambda c=command: subprocess.run(c, check=True, env=env))
                    )
                    cpu[label].append(child_cpu() - before)
        finally:
            server.stop()
    for label, values in times.items():
        print(f"{label}_s wall {spread(values)}; cpu (user+sys) {spread(cpu[label])}")
    local_s, api_s, kubectl_s = (
        median(times[k]) for k in ("floe_local", "floe_apiserver", "kubectl")
    )
    verdict = "met" if local_s <= 0.2 else "MISSED"
    print(f"secrets_listed={args.secrets} target_local_s<=0.2: {verdict}")
    print(f"floe_local_list_s={local_s:.3f}")
    print(f"floe_apiserver_list_s={api_s:.3f}")
    print(f"kubectl_get_secrets_s={kubectl_s:.3f}")
    cpu_ratio = median(cpu["floe_apiserver"]) / median(cpu["kubectl"])
    print(f"cli_list_vs_kubectl_cpu_ratio={cpu_ratio:.2f}")
    for label in FLOORS:  # what no Python CLI can go below, against the same kubectl
        wall = median(times[label]) / kubectl_s
        used = median(cpu[label]) / median(cpu["kubectl"])
        print(f"{label}_vs_kubectl wall={wall:.2f} cpu={used:.2f}")
    print_machine("end")
    print(f"cli_list_vs_kubectl_ratio={api_s / kubectl_s:.2f}")


if __name__ == "__main__":
    main()
