#!/usr/bin/env bash
# Run every benchmark once at its smallest size, against the real test servers, so none can rot
# (.ci/run). Not a measurement: the figures in benchmarks/README.md come from the full sizes.
# Each benchmark's last line (its ratio) is printed; any benchmark that fails makes this exit 1
# after all have run. Usage: bash benchmarks/run_smallest.sh [NAME ...]  (default: all)
set -uo pipefail
cd "$(dirname "$0")/.."
python=.venv/bin/python

declare -A args=(
  [import_time]="--runs 1"
  [audit_overhead]="--calls 200 --rounds 3"
  [masking_redact]="--sizes 10 --lines 200 --rounds 1"
  [redacting_storage]="--events 10 --rounds 1 --values 2"
  [cli_latency]="--runs 1 --secrets 3"
  [rotation_sensor]="--sizes 100 --repeat 3"
  [launch_overhead]="--sizes 1 --namespace-sizes small --runs 3"
  [vault_requests]="--secrets 1"
  [rotate_latency]="--repeat 1"
  [eso_rotation]="--repeat 1 --periodic-repeat 1 --refresh 5s"
  [demo_vs_dbt]="--runs 1 --fetches 3 --warmup 0"
)
order=(import_time audit_overhead masking_redact redacting_storage cli_latency rotation_sensor launch_overhead vault_requests
  rotate_latency eso_rotation demo_vs_dbt)
args[pod_start]="--runs 1 --warmup 1"; order+=(pod_start)  # real node + image: 3-5 min loaded
if (($#)); then order=("$@"); fi

failed=()
started=$SECONDS
for name in "${order[@]}"; do
  log=$(mktemp "/tmp/bench-$name.XXXXXX")
  began=$SECONDS
  # shellcheck disable=SC2086  # the arguments are words
  $python "benchmarks/$name.py" ${args[$name]} >"$log" 2>&1
  code=$?
  if ((code == 0)); then
    printf '[bench] %-16s %4ds  %s\n' "$name" $((SECONDS - began)) "$(tail -n 1 "$log")"
    rm -f "$log"
  else
    printf '[bench] %-16s %4ds  FAILED (exit %d); last lines of %s:\n' \
      "$name" $((SECONDS - began)) "$code" "$log"
    tail -n 15 "$log" | sed 's/^/    /'
    failed+=("$name")
  fi
done
printf '[bench] total %ds\n' $((SECONDS - started))
if ((${#failed[@]})); then
  printf '[bench] failed: %s\n' "${failed[*]}"
  exit 1
fi
