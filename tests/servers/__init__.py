"""Real servers for the integration tests: kube-apiserver + etcd, OpenBao, PostgreSQL.

Each module starts one server on free loopback ports, polls it until it answers, and stops it on
teardown; a server that cannot start raises :class:`ServerStartError` with the tail of its log.
The pytest fixtures over these live in ``tests/conftest.py``.

The server classes are imported on first use (module ``__getattr__``), so a unit-test run that
never asks for a server does not import the kubernetes client, psycopg2 or cryptography.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from tests.servers._process import ServerStartError as ServerStartError

if TYPE_CHECKING:
    from tests.servers.kube_apiserver import KubeApiServer as KubeApiServer
    from tests.servers.openbao import OpenBaoServer as OpenBaoServer
    from tests.servers.postgres import PostgresServer as PostgresServer

__all__ = ["KubeApiServer", "OpenBaoServer", "PostgresServer", "ServerStartError"]

_LAZY = {
    "KubeApiServer": "tests.servers.kube_apiserver",
    "OpenBaoServer": "tests.servers.openbao",
    "PostgresServer": "tests.servers.postgres",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
