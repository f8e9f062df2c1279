"""What the audit trail costs per secret access: audited ``get_secret`` against the same method
unwrapped, on the local backend (real files), with a handler on ``floe.audit`` as in production.

Both are timed in the same process, alternating rounds so machine noise falls on both; prints
both medians per call and, last, ``audit_overhead_ratio=<audited/unaudited>``.

    .venv/bin/python benchmarks/audit_overhead.py [--calls 2000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from pathlib import Path

from floe_dagster_secrets.audit import AUDIT_LOGGER
from floe_dagster_secrets.backends.local import LocalSecretsPlugin

NAME, NS = "bench-dev-credentials", "floe-jobs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    handler = logging.StreamHandler(open("/dev/null", "w"))  # noqa: SIM115 - lives for the run
    logging.getLogger(AUDIT_LOGGER).addHandler(handler)
    with tempfile.TemporaryDirectory() as tmp:
        plugin = LocalSecretsPlugin(path=Path(tmp, "store"))
        plugin.create_secret(NAME, NS, {"PASSWORD": "benchmark-value-0123456789"})
        audited = plugin.get_secret
        bare = LocalSecretsPlugin.get_secret.__wrapped__  # type: ignore[attr-defined]

        def per_call(call: object) -> float:
            started = time.perf_counter()
            for _ in range(args.calls):
                call()  # type: ignore[operator]
            return (time.perf_counter() - started) / args.calls

        ours: list[float] = []
        baseline: list[float] = []
        for _ in range(args.rounds):
            ours.append(per_call(lambda: audited(NAME, NS)))
            baseline.append(per_call(lambda: bare(plugin, NAME, NS)))
    ours_s, base_s = statistics.median(ours), statistics.median(baseline)
    print(f"audited_get_us={ours_s * 1e6:.1f} unaudited_get_us={base_s * 1e6:.1f}")
    print(f"audit_overhead_us={(ours_s - base_s) * 1e6:.1f}")
    print(f"audit_overhead_ratio={ours_s / base_s:.3f}")


if __name__ == "__main__":
    main()
