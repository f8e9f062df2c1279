"""Real servers for the integration tests: kube-apiserver + etcd, OpenBao, PostgreSQL.

Each module starts one server on free loopback ports, polls it until it answers, and stops it on
teardown; a server that cannot start raises :class:`ServerStartError` with the tail of its log.
The pytest fixtures over these live in ``tests/conftest.py``.
"""

from tests.servers._process import ServerStartError as ServerStartError
from tests.servers.kube_apiserver import KubeApiServer as KubeApiServer
from tests.servers.openbao import OpenBaoServer as OpenBaoServer
from tests.servers.postgres import PostgresServer as PostgresServer

__all__ = ["KubeApiServer", "OpenBaoServer", "PostgresServer", "ServerStartError"]
