#!/usr/bin/env bash
# README command (1): set up everything on a fresh machine and run the demo job end to end on the
# embedded default (the local secrets store), printing what was materialized.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
exec .venv/bin/python tools/demo.py "$@"
