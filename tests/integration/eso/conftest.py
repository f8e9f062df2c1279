"""Session fixtures for the ESO tests: ESO's CRDs and its real controller on the test apiserver.

``eso_crds`` installs the pinned release's CRDs (server-side) into the session's kube-apiserver;
``eso_controller`` also runs the controller out of cluster against it. Like every server here, a
controller that cannot start FAILS the asking test with its log tail, never skips it.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.servers._process import ServerStartError, log_tail

if TYPE_CHECKING:
    from tests.servers import KubeApiServer, OpenBaoServer
    from tests.servers.eso import EsoController

_CONTROLLER_LOG: list[Path] = []


@pytest.fixture(scope="session")
def eso_crds(kube_apiserver: KubeApiServer) -> float:
    """ESO's CRDs installed server-side and Established; seconds the install took."""
    from tests.servers.eso import install_crds

    try:
        return install_crds(kube_apiserver)
    except ServerStartError as e:
        pytest.fail(f"ESO CRDs could not be installed (a failure, never a skip):\n{e}")


@pytest.fixture(scope="session")
def eso_controller(
    kube_apiserver: KubeApiServer, eso_crds: float, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[EsoController]:
    """The real ESO controller, out of cluster, watching the test apiserver."""
    from tests.servers.eso import EsoController

    del eso_crds  # installed; the controller's start re-applies idempotently
    try:
        controller = EsoController(tmp_path_factory.mktemp("eso"), kube_apiserver)
        controller.start()
    except ServerStartError as e:
        pytest.fail(f"ESO controller could not start (a failure, never a skip):\n{e}")
    _CONTROLLER_LOG.append(controller.log_file)
    yield controller
    controller.stop()


@pytest.fixture
def vault_store_env(
    kube_apiserver: KubeApiServer, openbao_server: OpenBaoServer, k8s_namespace: str, tmp_path: Path
) -> dict[str, str]:
    """Kubernetes auth in OpenBao for a ServiceAccount of this test's namespace.

    Returns the plugin settings of a Vault ClusterSecretStore that ESO can log in with (the
    ServiceAccount ``eso-reader``, a role that may read ``secret/data/floe/<namespace>/*``), plus
    a token file for floe's own writes.
    """
    from tests.integration.vault_helpers import kubernetes_auth_mount, put_policy

    mount = kubernetes_auth_mount(openbao_server, kube_apiserver, k8s_namespace)
    policy = f"eso-{k8s_namespace}"
    put_policy(
        openbao_server,
        policy,
        f'path "secret/data/floe/{k8s_namespace}/*" {{ capabilities = ["read"] }}\n',
    )
    openbao_server.request(
        "POST",
        f"auth/{mount}/role/eso",
        {
            "bound_service_account_names": ["eso-reader"],
            "bound_service_account_namespaces": [k8s_namespace],
            "token_policies": [policy],
            "token_ttl": "10m",
        },
    )
    kube_apiserver.service_account_token(k8s_namespace, "eso-reader")  # creates the account
    token_file = tmp_path / "vault-token"
    token_file.write_text(openbao_server.root_token)
    return {
        "store": f"vault-{k8s_namespace}",
        "provider": "vault",
        "vault_address": openbao_server.address,
        "vault_path": "secret",
        "vault_role": "eso",
        "vault_auth_mount": mount,
        "service_account": "eso-reader",
        "service_account_namespace": k8s_namespace,
        "vault_token_file": str(token_file),
        "kubeconfig": str(kube_apiserver.admin_kubeconfig),
    }


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Attach the ESO controller's log tail to a failed ESO test."""
    report = yield
    if report.failed and call.when in ("call", "setup") and _CONTROLLER_LOG:
        report.sections.append(("ESO controller log tail", log_tail(_CONTROLLER_LOG[0], 60)))
    return report
