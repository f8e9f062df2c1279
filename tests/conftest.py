"""Session fixtures for the real test servers (kube-apiserver + etcd, OpenBao, PostgreSQL).

A server starts only when the first test that needs it asks for it, and is stopped at the end of
the session whatever the tests did. A server that cannot start FAILS the asking test with its log
tail: an integration test never silently skips. When a test that used a server fails, the tail of
that server's log is attached to the report.

Nothing here is autouse, so unit tests never start or reach a server.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

import pytest

from tests.servers._process import ServerStartError, log_tail

if TYPE_CHECKING:
    from tests.servers import KubeApiServer, OpenBaoServer, PostgresServer
    from tests.servers.node import KubeNode


class _Server(Protocol):
    log_file: Path

    def start(self) -> float: ...

    def stop(self) -> None: ...


S = TypeVar("S", bound=_Server)

# fixture name -> (server name, log file, seconds to ready) of every server started this session
_STARTED: dict[str, tuple[str, Path, float]] = {}
# fixtures that imply a server fixture
_IMPLIES = {"k8s_namespace": "kube_apiserver", "kube_node": "kube_apiserver"}


_PORT_RACE = "address already in use"
_ATTEMPTS = 3


def _start(
    fixture: str, name: str, factory: type[S], tmp_path_factory: pytest.TempPathFactory
) -> S:
    """Build and start a server, or fail the requesting test with the server's log tail.

    Free ports are picked, released, then bound by the server, so another process on the machine
    can take one in between; that one failure ("address already in use") is retried with new
    ports. Anything else fails at once.
    """
    problem: ServerStartError | None = None
    for _ in range(_ATTEMPTS):
        server: S | None = None
        try:
            server = factory(tmp_path_factory.mktemp(fixture))  # type: ignore[call-arg]
            seconds = server.start()
        except ServerStartError as e:
            problem = e
            if server is not None:
                server.stop()
            if _PORT_RACE in str(e):
                continue
            break
        _STARTED[fixture] = (name, server.log_file, seconds)
        return server
    # Outside the except block, so the report shows the log tail and not a chained traceback.
    pytest.fail(f"{name} could not start (a failure, never a skip):\n{problem}", pytrace=False)


@pytest.fixture(scope="session")
def kube_apiserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeApiServer]:
    """A real kube-apiserver (RBAC, static admin/restricted tokens, TokenRequest) with its etcd."""
    from tests.servers import KubeApiServer

    server = _start("kube_apiserver", "kube-apiserver", KubeApiServer, tmp_path_factory)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def kube_node(
    kube_apiserver: KubeApiServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[KubeNode]:
    """A real node on that apiserver: containerd + runc, kubelet, controller-manager, scheduler.

    Pods scheduled here run for real (``hostNetwork: true`` keeps them on loopback). A node that
    cannot start fails the test, never skips it.
    """
    from tests.servers.node import KubeNode

    def factory(workdir: Path) -> KubeNode:
        return KubeNode(workdir, kube_apiserver)

    node = _start("kube_node", "Kubernetes node", factory, tmp_path_factory)  # type: ignore[arg-type]
    yield node
    node.stop()


@pytest.fixture
def k8s_namespace(kube_apiserver: KubeApiServer) -> Iterator[str]:
    """A fresh, uniquely named namespace (created); deleted afterwards (stays Terminating)."""
    name = kube_apiserver.create_namespace()
    yield name
    kube_apiserver.delete_namespace(name)


@pytest.fixture(scope="session")
def openbao_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenBaoServer]:
    """A real OpenBao dev server with a root token and a file audit device."""
    from tests.servers import OpenBaoServer

    server = _start("openbao_server", "OpenBao", OpenBaoServer, tmp_path_factory)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """A real PostgreSQL cluster on loopback with a password-authenticated superuser."""
    from tests.servers import PostgresServer

    server = _start("postgres_server", "PostgreSQL", PostgresServer, tmp_path_factory)
    yield server
    server.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Attach the log tail of every server a failed test used."""
    report = yield
    if report.failed and call.when in ("call", "setup"):
        used = set(getattr(item, "fixturenames", ()))
        used |= {_IMPLIES[name] for name in used if name in _IMPLIES}
        for fixture in sorted(used & _STARTED.keys()):
            name, log_file, _ = _STARTED[fixture]
            report.sections.append((f"{name} log tail ({log_file})", log_tail(log_file)))
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say how long each server took to start, so slow starts are visible in every run."""
    if _STARTED:
        figures = ", ".join(f"{name} {seconds:.1f} s" for name, _, seconds in _STARTED.values())
        terminalreporter.write_line(f"test servers ready after: {figures}")
