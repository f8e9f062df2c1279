"""What masking costs with many secrets registered: redacting log lines, and registering values.

**Redaction** (the ratio): ``SecretsMasker.redact`` over a run's worth of log lines with N
secrets registered (each in all its encoded forms), against the same forms joined longest first
into one alternation — what this masker compiled before, and the way Airflow's secrets masker
builds its ``replacer``. Both must give identical output; the script checks it.

**Registration** (printed for scale): registering N values one at a time, as backends resolve
them, then one redaction; against recompiling the alternation at each registration, as Airflow's
``add_mask`` (and this masker, before) did.

Pure in-process work, no server: the masker sees only strings. Rounds alternate ours and the
baseline; medians. Prints ``redact_vs_alternation_ratio_<largest N>=`` last.

    .venv/bin/python benchmarks/masking_redact.py [--sizes 10,100,1000] [--lines 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import random
import re
import secrets
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import print_machine
from floe_dagster_secrets.masking import LARGE_VALUE_LENGTH, SecretsMasker, encoded_forms
from floe_dagster_secrets.types import REDACTED


def _alternation(forms: set[str]) -> re.Pattern[str]:
    by_length = sorted(forms, key=len, reverse=True)
    return re.compile("|".join(re.escape(form) for form in by_length))


def _log_lines(values: list[str], count: int) -> list[str]:
    """Dagster- and dbt-like lines; one in fifty carries a value, plain or base64-encoded."""
    rng = random.Random(7)  # noqa: S311 - reproducible log text, not a secret
    lines = []
    for index in range(count):
        line = (
            f"2026-12-04 05:{index % 60:02d}:00 +0000 - dagster - DEBUG - floe_demo_job - "
            f"{rng.getrandbits(64):016x} - {index} - STEP_OUTPUT - Yielded output result of "
            f"type Any for step dbt_build (partition {rng.randrange(1000)})"
        )
        if index % 50 == 0:
            value = rng.choice(values)
            form = rng.choice(sorted(encoded_forms(value)))
            line += f" connecting with password={form} to warehouse"
        lines.append(line)
    return lines


def _median_seconds(
    work: Callable[[], object], rounds: int, other: Callable[[], object]
) -> tuple[float, float]:
    ours: list[float] = []
    theirs: list[float] = []
    for _ in range(rounds):
        for timed, samples in ((work, ours), (other, theirs)):
            started = time.perf_counter()
            timed()
            samples.append(time.perf_counter() - started)
    return statistics.median(ours), statistics.median(theirs)


def _register_recompiling_each(values: list[str], probe: str) -> str:
    forms: set[str] = set()
    pattern = None
    for value in values:
        forms |= encoded_forms(value)
        pattern = _alternation(forms)
    assert pattern is not None
    return pattern.sub(REDACTED, probe)


def _register_ours(values: list[str], probe: str) -> str:
    masker = SecretsMasker()
    for value in values:
        masker.register(value)
    return masker.redact(probe)


def _measure(size: int, args: argparse.Namespace) -> float:
    """Print one size's figures; return its redaction ratio."""
    values = [secrets.token_urlsafe(24) for _ in range(size)]
    lines = _log_lines(values, args.lines)
    masker = SecretsMasker()
    masker.register_all(values)
    forms: set[str] = set()
    for value in values:
        forms |= encoded_forms(value)
    assert all(len(form) <= LARGE_VALUE_LENGTH for form in forms)
    baseline = _alternation(forms)
    ours_out = [masker.redact(line) for line in lines]
    if ours_out != [baseline.sub(REDACTED, line) for line in lines]:
        raise SystemExit(f"N={size}: the masker and the alternation redacted differently")
    if any(value in line for value in values for line in ours_out[::50]):
        raise SystemExit(f"N={size}: a value survived redaction")
    ours_s, base_s = _median_seconds(
        lambda: [masker.redact(line) for line in lines],
        args.rounds,
        lambda: [baseline.sub(REDACTED, line) for line in lines],
    )
    ratio = ours_s / base_s
    print(
        f"N={size} forms={len(forms)} lines={len(lines)} "
        f"redact_ms_per_line={ours_s / len(lines) * 1e3:.4f} "
        f"alternation_ms_per_line={base_s / len(lines) * 1e3:.4f} ratio={ratio:.3f}",
        flush=True,
    )
    if size <= args.register_up_to:
        probe = lines[0]
        ours_reg, base_reg = _median_seconds(
            lambda: _register_ours(values, probe),
            max(1, args.rounds // 2),
            lambda: _register_recompiling_each(values, probe),
        )
        print(
            f"N={size} register_then_redact_s={ours_reg:.4f} "
            f"recompile_each_s={base_reg:.4f} ratio={ours_reg / base_reg:.3f}",
            flush=True,
        )
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument("--lines", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--register-up-to",
        type=int,
        default=300,
        help="largest N for the registration comparison (the baseline is quadratic)",
    )
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    print_machine("start")
    ratio = 0.0
    for size in sizes:
        ratio = _measure(size, args)
    print_machine("end")
    print(f"redact_vs_alternation_ratio_{sizes[-1]}={ratio:.3f}")


if __name__ == "__main__":
    main()
