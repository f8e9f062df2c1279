"""How much `import floe_dagster_secrets` costs next to `import dagster, dagster_k8s`.

Each import runs in a fresh interpreter (so nothing is cached in-process) and is timed inside it,
around the import statement alone (interpreter start-up is not in either figure, so no subtraction
can turn noise into a negative time); the two alternate so machine noise falls on both. Prints
both medians and, last, `import_time_ratio=<ours/baseline>`.

    .venv/bin/python benchmarks/import_time.py [--runs 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

OURS = "import floe_dagster_secrets"
BASELINE = "import dagster, dagster_k8s"


_TIMED = "import time; _t = time.perf_counter(); {statement}; print(time.perf_counter() - _t)"


def time_import(statement: str) -> float:
    """Seconds ``statement`` takes in a fresh interpreter, measured by that interpreter."""
    result = subprocess.run(
        [sys.executable, "-c", _TIMED.format(statement=statement)],
        check=True,
        capture_output=True,
        text=True,
    )
    return float(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    time_import("pass")  # warm the OS file cache for the interpreter itself
    ours: list[float] = []
    baseline: list[float] = []
    for _ in range(args.runs):
        ours.append(time_import(OURS))
        baseline.append(time_import(BASELINE))
    ours_s = statistics.median(ours)
    baseline_s = statistics.median(baseline)
    print(f"import_floe_dagster_secrets_s={ours_s:.3f}")
    print(f"import_dagster_dagster_k8s_s={baseline_s:.3f}")
    print(f"import_time_ratio={ours_s / baseline_s:.3f}")


if __name__ == "__main__":
    main()
