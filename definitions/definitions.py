"""The demo's code location under its repository name, ``definitions.definitions``: the dg
project's definitions (``src/floe_demo/definitions.py``), for ``dagster api grpc -m``, the
webserver's ``workspace.yaml`` and ``dagster job execute``."""

from floe_demo.definitions import defs

__all__ = ["defs"]
