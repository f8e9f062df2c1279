"""The demo job through Dagster (key pulled from the secrets backend at run time) next to a plain
`dbt build` of the same dbt project with the key already in the environment.

Runs alternate so machine noise falls on both; prints both medians and, last,
`demo_vs_dbt_build_ratio=<demo/dbt>`. What the ratio shows is Dagster's own cost (process start,
code load, step process, dagster-dbt's `dbt --version`), not the secrets layer's: the secret read
itself is timed separately and printed as `secret_fetch_ms`.

    .venv/bin/python benchmarks/demo_vs_dbt.py [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tools")]

from demo import ensure_demo_secret, run_job  # noqa: E402

from definitions.project import DBT_PROJECT_DIR, PROFILES_DIR, dbt_executable, load_project  # noqa: E402
from floe_dagster_secrets.resources import secrets_resource_from_manifest  # noqa: E402


def timed(action: object) -> float:
    started = time.perf_counter()
    action()  # type: ignore[operator]
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    ensure_demo_secret()
    project = load_project()
    resource = secrets_resource_from_manifest(project.manifest, base_dir=ROOT / "definitions")
    fetch_s = timed(lambda: resource.dbt_env(project.manifest))
    dbt_env = {
        **os.environ,
        **resource.dbt_env(project.manifest),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    target = project.manifest.environment

    def dbt_build() -> None:
        subprocess.run(
            [dbt_executable(), "build", "--quiet", "--project-dir", str(DBT_PROJECT_DIR),
             "--profiles-dir", str(PROFILES_DIR), "--target", target],
            env=dbt_env, check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip

    demo: list[float] = []
    dbt: list[float] = []
    with tempfile.TemporaryDirectory() as scratch:
        home = Path(scratch) / "home"
        home.mkdir()
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")

        def demo_run() -> None:
            if run_job(home, Path(scratch) / "run.log") != 0:
                raise SystemExit(f"demo run failed: {(Path(scratch) / 'run.log').read_text()}")

        for _ in range(args.runs):
            demo.append(timed(demo_run))
            dbt.append(timed(dbt_build))
    demo_s, dbt_s = statistics.median(demo), statistics.median(dbt)
    print(f"secret_fetch_ms={fetch_s * 1000:.1f}")
    print(f"demo_job_s={demo_s:.2f}")
    print(f"dbt_build_s={dbt_s:.2f}")
    print(f"demo_vs_dbt_build_ratio={demo_s / dbt_s:.2f}")


if __name__ == "__main__":
    main()
