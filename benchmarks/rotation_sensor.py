"""One rotation-sensor tick as Dagster evaluates it: ours against a plain LIST-and-diff sensor.

Starts a real kube-apiserver (``tests.servers``), creates N secrets in one namespace, defines an
asset job whose assets name all N in their ``floe/secrets`` metadata (20 assets, N/20 secrets
each), rotates one secret, and evaluates each sensor's tick the way the code server does
(``SensorEvaluationContext`` on the loaded repository, its resources built for the tick, then
``sensor_def.evaluate_tick`` — ``dagster._grpc.impl.get_external_sensor_execution``):

- ours: ``make_secret_rotation_sensor(target=job)`` with a ``K8sSecretsResource``; one
  metadata-only LIST of the namespace (``PartialObjectMetadataList``, pages of 50,000 items,
  so one request up to 50,000 secrets), diffed against its JSON cursor;
- plain: what a competent engineer writes without floe — a ``@sensor`` on the same job, a
  kubeconfig resource, one ``CoreV1Api.list_namespaced_secret`` of the namespace (full objects,
  values included: the Python client has no metadata-only call), ``resourceVersion`` of the
  watched names diffed against a JSON cursor, one ``RunRequest`` per rotated secret for its
  assets (the secret → assets map built once, at definition time).

Both yield the same single run request. Each figure is the median of ``--repeat`` ticks, both
sensors alternating. Requests are counted on the wire: one more tick of each through the suite's
fault proxy (passing everything). Run:
``.venv/bin/python benchmarks/rotation_sensor.py --sizes 100,1000,10000``. The last line is
``sensor_tick_ratio_1000=<ours/plain>``.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dagster import (
    AssetKey,
    AssetSelection,
    ConfigurableResource,
    Definitions,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    asset,
    define_asset_job,
    sensor,
)
from dagster._core.execution.resources_init import get_transitive_required_resource_keys
from dagster._grpc.utils import default_sensor_grpc_timeout
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from benchmarks._common import (
    counting_proxy,
    create_secrets,
    median,
    print_machine,
    require,
    spread,
)
from floe_dagster_secrets.resources import K8sSecretsResource, secrets_metadata
from floe_dagster_secrets.sensors import make_secret_rotation_sensor
from tests.servers import KubeApiServer

ASSETS = 20


class KubeResource(ConfigurableResource):  # type: ignore[type-arg]
    """The plain sensor's client: a kubeconfig, a CoreV1Api per tick."""

    kubeconfig: str

    def core(self) -> k8s.CoreV1Api:
        return k8s.CoreV1Api(
            k8s_config.new_client_from_config(config_file=self.kubeconfig, persist_config=False)
        )


def definitions(names: list[str], namespace: str, kubeconfig: str) -> Definitions:
    """The job, our sensor and the plain sensor on it, and both resources."""
    groups = [names[i::ASSETS] for i in range(ASSETS)]

    def make_asset(i: int, group: list[str]) -> Any:
        @asset(name=f"report_{i:02d}", metadata=secrets_metadata(group))
        def _report() -> None:
            return None

        return _report

    assets = [make_asset(i, group) for i, group in enumerate(groups) if group]
    job = define_asset_job("reports_job", selection=AssetSelection.all())
    ours = make_secret_rotation_sensor(target=job)
    assets_of = {name: [AssetKey(f"report_{i:02d}")] for i, g in enumerate(groups) for name in g}

    @sensor(name="plain_rotation", target=job, required_resource_keys={"kube"})
    def plain(context: SensorEvaluationContext) -> SensorResult | SkipReason:
        previous: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
        core = context.resources.kube.core()
        try:
            listed = core.list_namespaced_secret(namespace)
        finally:
            core.api_client.close()
        current = {
            s.metadata.name: s.metadata.resource_version
            for s in listed.items
            if s.metadata.name in assets_of
        }
        requests = [
            RunRequest(run_key=f"{namespace}/{name}@{version}", asset_selection=assets_of[name])
            for name, version in sorted(current.items())
            if previous and previous.get(name) != version
        ]
        return SensorResult(run_requests=requests, cursor=json.dumps(current, sort_keys=True))

    return Definitions(
        assets=assets,
        jobs=[job],
        sensors=[ours, plain],
        resources={
            "secrets": K8sSecretsResource(kubeconfig=kubeconfig, namespace=namespace),
            "kube": KubeResource(kubeconfig=kubeconfig),
        },
    )


def evaluate(defs: Definitions, name: str, cursor: str | None) -> tuple[float, Any]:
    """(seconds, SensorExecutionData) of one tick, as the code server evaluates it."""
    repo = defs.get_repository_def()
    started = time.perf_counter()
    sensor_def = repo.get_sensor_def(name)
    top = repo.get_top_level_resources()
    keys = get_transitive_required_resource_keys(sensor_def.required_resource_keys, top)
    with SensorEvaluationContext(
        None,
        last_tick_completion_time=None,
        last_run_key=None,
        cursor=cursor,
        log_key=None,
        repository_name=repo.name,
        repository_def=repo,
        sensor_name=name,
        resources={k: v for k, v in top.items() if k in keys},
    ) as context:
        data = sensor_def.evaluate_tick(context)
    return time.perf_counter() - started, data


def measure(server: KubeApiServer, size: int, repeat: int) -> float:
    """Print both ticks for ``size`` secrets; returns ours/plain (medians)."""
    namespace = server.create_namespace("bench-rotation")
    names = [f"svc{i:05d}-bench-credentials" for i in range(size)]
    created = create_secrets(server.api_client(), namespace, names)
    print(f"n={size} created_in_seconds={created:.1f}", flush=True)
    defs = definitions(names, namespace, str(server.admin_kubeconfig))
    sensors = {"ours": "floe_secret_rotation", "plain": "plain_rotation"}
    baselines = {label: evaluate(defs, name, None)[1].cursor for label, name in sensors.items()}
    rotated = names[size // 2]
    k8s.CoreV1Api(server.api_client()).patch_namespaced_secret(
        rotated, namespace, {"stringData": {"PASSWORD": secrets.token_hex(16)}}
    )
    times: dict[str, list[float]] = {"ours": [], "plain": []}
    for _ in range(repeat):
        for label, name in sensors.items():
            seconds, data = evaluate(defs, name, baselines[label])
            keys = [r.run_key for r in data.run_requests]
            require(len(keys) == 1 and rotated in keys[0], f"{label} requested {keys}")
            times[label].append(seconds)
    with counting_proxy(server) as (proxy, kubeconfig):
        counted = definitions(names, namespace, str(kubeconfig))
        wire: dict[str, int] = {}
        for label, name in sensors.items():
            before = len(proxy.seen)
            evaluate(counted, name, baselines[label])
            wire[label] = len(proxy.seen) - before
    for label in ("ours", "plain"):
        print(
            f"n={size} {label:5s} requests_on_wire_per_tick={wire[label]} "
            f"tick_ms {spread(times[label], 1000, '.1f')}",
            flush=True,
        )
    ratio = median(times["ours"]) / median(times["plain"])
    print(f"n={size} sensor_tick_ratio={ratio:.3f}", flush=True)
    require(wire["ours"] == 1, f"ours made {wire['ours']} requests at n={size}, want 1")
    return ratio


def main() -> None:
    """Start an apiserver, measure each size, print the 1,000 ratio last."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="100,1000,10000", help="comma-separated secret counts")
    parser.add_argument("--repeat", type=int, default=7, help="ticks per figure (median)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print_machine("start")
    with tempfile.TemporaryDirectory() as workdir:
        server = KubeApiServer(Path(workdir))
        server.start()
        try:
            ratios = {size: measure(server, size, args.repeat) for size in sizes}
        finally:
            server.stop()
    print(f"dagster_sensor_timeout_seconds={default_sensor_grpc_timeout()}")
    print_machine("end")
    headline = 1000 if 1000 in ratios else sizes[0]
    print(f"sensor_tick_ratio_{headline}={ratios[headline]:.3f}")


if __name__ == "__main__":
    main()
