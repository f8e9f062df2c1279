"""How much `import floe_dagster_secrets` costs next to `import dagster, dagster_k8s`.

Each import runs in a fresh interpreter (so nothing is cached in-process), alternating the two so
machine noise falls on both; prints both medians and, last, `import_time_ratio=<ours/baseline>`.

    .venv/bin/python benchmarks/import_time.py [--runs 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

OURS = "import floe_dagster_secrets"
BASELINE = "import dagster, dagster_k8s"


def time_import(statement: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", statement], check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    time_import("pass")  # warm the OS file cache for the interpreter itself
    empty = statistics.median(time_import("pass") for _ in range(args.runs))
    ours: list[float] = []
    baseline: list[float] = []
    for _ in range(args.runs):
        ours.append(time_import(OURS))
        baseline.append(time_import(BASELINE))
    ours_s = statistics.median(ours) - empty
    baseline_s = statistics.median(baseline) - empty
    print(f"interpreter_start_s={empty:.3f} (subtracted from both)")
    print(f"import_floe_dagster_secrets_s={ours_s:.3f}")
    print(f"import_dagster_dagster_k8s_s={baseline_s:.3f}")
    print(f"import_time_ratio={ours_s / baseline_s:.3f}")


if __name__ == "__main__":
    main()
