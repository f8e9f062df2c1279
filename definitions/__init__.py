"""The floe demo code location: a dbt project on an encrypted DuckDB, its key in a secrets store.

This folder is a dg project (``dg.toml``; package ``src/floe_demo``). The package is not installed:
``definitions.definitions`` and ``definitions.project``, the names the Dockerfile, the webserver's
``workspace.yaml`` and the tests load, re-export it, so ``src/`` is put on the import path here,
once, when anything under ``definitions`` is imported.
"""

import sys
from pathlib import Path

_SRC = str(Path(__file__).resolve().parent / "src")
if _SRC not in sys.path:
    sys.path.insert(0, _SRC)
