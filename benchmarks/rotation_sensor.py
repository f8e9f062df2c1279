"""Cost of one rotation-sensor tick: our metadata-only version read vs. a GET per secret.

Starts a real kube-apiserver (``tests.servers``), creates N secrets in one namespace (thread
pool), references all of them from assets, rotates one, and times a tick both ways in the same
run:

- ours: the sensor's own read, ``floe_dagster_secrets.sensors.versions.read_versions`` (for
  Kubernetes one metadata-only LIST per 5,000 secrets), then the diff against the cursor;
- naive: one GET per referenced secret (``describe_secret``) comparing ``resourceVersion``, then
  the same diff.

Each figure is the median of ``--repeat`` ticks; Dagster's sensor evaluation timeout (gRPC,
``DAGSTER_SENSOR_GRPC_TIMEOUT_SECONDS``) is printed next to the largest tick. Run:
``.venv/bin/python benchmarks/rotation_sensor.py --sizes 100,1000,10000``. The last line is
``sensor_tick_ratio_1000=<ours/naive>``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dagster._grpc.utils import default_sensor_grpc_timeout

from floe_dagster_secrets.backends.kubernetes import K8sSecretsPlugin
from floe_dagster_secrets.sensors.cursor import RotationCursor, diff_versions
from floe_dagster_secrets.sensors.versions import read_versions
from tests.servers import KubeApiServer


class Counted:
    """Counts the HTTP requests a plugin sends (wraps its single request method)."""

    def __init__(self, plugin: K8sSecretsPlugin) -> None:
        self.requests = 0
        send = plugin._send

        def counting(*args: Any, **kwargs: Any) -> Any:
            self.requests += 1
            return send(*args, **kwargs)

        plugin._send = counting  # type: ignore[method-assign]


def _median_tick(
    read: Callable[[], dict[str, str]],
    counter: Counted,
    repeat: int,
    baseline: RotationCursor,
    names: list[str],
) -> tuple[float, int]:
    times, requests = [], []
    for _ in range(repeat):
        counter.requests = 0
        start = time.perf_counter()
        current = read()
        diff_versions(baseline, namespace=baseline.namespace, current=current, watched=names)
        times.append(time.perf_counter() - start)
        requests.append(counter.requests)
    return statistics.median(times), max(requests)


def measure(server: KubeApiServer, size: int, repeat: int) -> float:
    """Print both ticks for ``size`` secrets; returns ours/naive."""
    namespace = server.create_namespace("bench-rotation")
    plugin = K8sSecretsPlugin(kubeconfig=str(server.admin_kubeconfig))
    names = [f"svc{i:05d}-bench-credentials" for i in range(size)]
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda n: plugin.create_secret(n, namespace, {"PASSWORD": "bench"}), names))
    created = time.perf_counter() - start
    baseline = diff_versions(
        None, namespace=namespace, current=plugin.secret_versions(namespace), watched=names
    ).cursor
    plugin.update_secret(names[size // 2], namespace, {"PASSWORD": "rotated"})
    counter = Counted(plugin)

    def ours() -> dict[str, str]:
        return read_versions(plugin, namespace, names)

    def naive() -> dict[str, str]:
        return {n: plugin.describe_secret(n, namespace).version for n in names}

    results = {}
    for label, read in (("ours", ours), ("naive", naive)):
        seconds, requests = _median_tick(read, counter, repeat, baseline, names)
        diff = diff_versions(baseline, namespace=namespace, current=read(), watched=names)
        assert [r.secret for r in diff.rotations] == [names[size // 2]], diff.rotations
        results[label] = seconds
        print(
            f"n={size} {label:5s} requests_per_tick={requests} tick_seconds={seconds:.4f}",
            flush=True,
        )
    print(
        f"n={size} created_in_seconds={created:.1f} ratio={results['ours'] / results['naive']:.4f}"
    )
    plugin.close()
    return results["ours"] / results["naive"]


def main() -> None:
    """Start an apiserver, measure each size, print the 1,000 ratio last."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="100,1000", help="comma-separated secret counts")
    parser.add_argument("--repeat", type=int, default=5, help="ticks per figure (median)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if 1000 not in sizes:
        sizes.append(1000)
    with tempfile.TemporaryDirectory() as workdir:
        server = KubeApiServer(Path(workdir))
        server.start()
        try:
            ratios = {size: measure(server, size, args.repeat) for size in sizes}
        finally:
            server.stop()
    print(f"dagster_sensor_timeout_seconds={default_sensor_grpc_timeout()}")
    print(f"sensor_tick_ratio_1000={ratios[1000]:.4f}")


if __name__ == "__main__":
    main()
