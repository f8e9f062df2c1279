"""K8sSecretsPlugin against a real kube-apiserver (RBAC on, etcd behind it)."""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

from floe_dagster_secrets.backends._retry import RetryPolicy, call_with_retry, is_transient
from floe_dagster_secrets.backends.kubernetes import K8sSecretsPlugin
from floe_dagster_secrets.backends.registry import load_backend_class
from floe_dagster_secrets.errors import (
    BackendUnavailableError,
    FloeSecretsError,
    InvalidSecretReferenceError,
    InvalidSecretValueError,
    SecretAccessDeniedError,
    SecretAlreadyExistsError,
    SecretConflictError,
    SecretNotFoundError,
)
from floe_dagster_secrets.kube.table import TABLE_ACCEPT
from floe_dagster_secrets.masking import get_masker
from floe_dagster_secrets.types import SecretValue
from tests.servers import KubeApiServer, ServerStartError
from tests.servers._process import free_port

pytestmark = pytest.mark.integration


def canary() -> str:
    """A value unique to one test, to search for in everything that must not contain it."""
    return f"canary-{uuid.uuid4().hex}"


def assert_no_value(error: BaseException, *values: str) -> None:
    """No value, plain or base64, in the error's text, repr or its cause's text."""
    texts = [str(error), repr(error)]
    if error.__cause__ is not None and not isinstance(error.__cause__, ApiException):
        texts.append(str(error.__cause__))
    for value in values:
        encoded = base64.b64encode(value.encode()).decode()
        for text in texts:
            assert value not in text
            assert encoded not in text


class Recorder:
    """Records every request an ApiClient sends and the raw bytes of each response."""

    def __init__(self, api: k8s.ApiClient) -> None:
        self.calls: list[dict[str, Any]] = []
        original = api.request

        def request(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            try:
                response = original(method, url, *args, **kwargs)
            except ApiException as e:
                self.calls.append({"method": method, "url": url, "status": e.status, "raw": b""})
                raise
            raw = response.data  # urllib3 caches it: the plugin reads the same bytes
            self.calls.append(
                {
                    "method": method,
                    "url": url,
                    "headers": kwargs.get("headers") or {},
                    "raw": raw,
                    "status": response.status,
                }
            )
            return response

        api.request = request  # type: ignore[method-assign]


@pytest.fixture
def recorded(kube_apiserver: KubeApiServer) -> Iterator[tuple[K8sSecretsPlugin, Recorder]]:
    api = kube_apiserver.new_client(kube_apiserver.admin_kubeconfig)
    recorder = Recorder(api)
    yield K8sSecretsPlugin(api_client=api), recorder
    api.close()


@pytest.fixture
def plugin(kube_apiserver: KubeApiServer) -> Iterator[K8sSecretsPlugin]:
    """The plugin as users configure it: a kubeconfig path, client created on first use."""
    instance = K8sSecretsPlugin(kubeconfig=str(kube_apiserver.admin_kubeconfig))
    yield instance
    instance.close()


def raw_secret(
    kube_apiserver: KubeApiServer, namespace: str, name: str, data: dict[str, bytes], **extra: Any
) -> None:
    """Create a secret straight through the API, the way an operator or kubectl would."""
    body = {
        "metadata": {"name": name},
        "data": {k: base64.b64encode(v).decode() for k, v in data.items()},
        **extra,
    }
    k8s.CoreV1Api(kube_apiserver.api_client()).create_namespaced_secret(namespace, body)


def read_raw(kube_apiserver: KubeApiServer, namespace: str, name: str) -> Any:
    return k8s.CoreV1Api(kube_apiserver.api_client()).read_namespaced_secret(name, namespace)


# --- CRUD -------------------------------------------------------------------------------------


def test_registered_under_k8s() -> None:
    assert load_backend_class("k8s") is K8sSecretsPlugin


def test_crud_round_trip(
    plugin: K8sSecretsPlugin, kube_apiserver: KubeApiServer, k8s_namespace: str
) -> None:
    password, rotated = canary(), canary()
    created = plugin.create_secret(
        "pg-prod-credentials", k8s_namespace, {"PG_USER": "dbt", "PG_PASSWORD": password}
    )
    assert created.managed_by_floe
    assert created.keys == ("PG_PASSWORD", "PG_USER")
    assert created.backend == "k8s"
    assert created.version

    raw = read_raw(kube_apiserver, k8s_namespace, "pg-prod-credentials")
    assert raw.metadata.labels == {"app.kubernetes.io/managed-by": "floe"}
    assert raw.metadata.annotations["floe.dev/keys"] == "PG_PASSWORD,PG_USER"
    assert raw.type == "Opaque"

    values = plugin.get_secret("pg-prod-credentials", k8s_namespace)
    assert all(isinstance(v, SecretValue) for v in values.values())
    assert {k: v.reveal() for k, v in values.items()} == {
        "PG_PASSWORD": password,
        "PG_USER": "dbt",
    }
    assert get_masker().redact(f"connecting with {password}") == "connecting with ***"

    described = plugin.describe_secret("pg-prod-credentials", k8s_namespace)
    assert described.keys == ("PG_PASSWORD", "PG_USER")
    assert described.version == created.version
    assert described.keys_known is True

    merged = plugin.update_secret(
        "pg-prod-credentials", k8s_namespace, {"PG_PASSWORD": rotated}, merge=True
    )
    assert merged.version != created.version
    assert merged.keys == ("PG_PASSWORD", "PG_USER")
    assert plugin.get_secret("pg-prod-credentials", k8s_namespace)["PG_PASSWORD"].reveal() == (
        rotated
    )

    replaced = plugin.update_secret("pg-prod-credentials", k8s_namespace, {"DSN": "x"})
    assert replaced.keys == ("DSN",)
    assert int(replaced.version) > int(merged.version)
    assert plugin.list_secrets(k8s_namespace)[0].keys == ("DSN",)

    plugin.delete_secret("pg-prod-credentials", k8s_namespace)
    assert plugin.list_secrets(k8s_namespace) == []
    with pytest.raises(SecretNotFoundError):
        plugin.delete_secret("pg-prod-credentials", k8s_namespace)


def test_update_returns_the_new_resource_version(
    plugin: K8sSecretsPlugin, kube_apiserver: KubeApiServer, k8s_namespace: str
) -> None:
    first = plugin.create_secret("api-key-secret", k8s_namespace, {"KEY": canary()})
    second = plugin.update_secret("api-key-secret", k8s_namespace, {"KEY": canary()})
    raw = read_raw(kube_apiserver, k8s_namespace, "api-key-secret")
    assert second.version == raw.metadata.resource_version != first.version
    assert plugin.secret_versions(k8s_namespace) == {"api-key-secret": second.version}


def test_concurrent_update_is_a_conflict_not_a_lost_write(
    kube_apiserver: KubeApiServer, k8s_namespace: str
) -> None:
    theirs, ours = canary(), canary()

    class RacedPlugin(K8sSecretsPlugin):
        """Someone else writes the secret between our read and our write."""

        def _read(self, name: str, namespace: str, *, verb: str = "get") -> dict[str, Any]:
            current = super()._read(name, namespace, verb=verb)
            core = k8s.CoreV1Api(kube_apiserver.api_client())
            core.patch_namespaced_secret(
                name, namespace, {"data": {"KEY": base64.b64encode(theirs.encode()).decode()}}
            )
            return current

    plain = K8sSecretsPlugin(api_client=kube_apiserver.api_client())
    plain.create_secret("raced-secret", k8s_namespace, {"KEY": canary()})
    raced = RacedPlugin(api_client=kube_apiserver.api_client())
    with pytest.raises(SecretConflictError) as caught:
        raced.update_secret("raced-secret", k8s_namespace, {"KEY": ours})
    assert "raced-secret" in str(caught.value)
    assert_no_value(caught.value, theirs, ours)
    assert plain.get_secret("raced-secret", k8s_namespace)["KEY"].reveal() == theirs


# --- metadata-only listing ----------------------------------------------------------------------


def test_list_is_metadata_only_on_the_wire(
    recorded: tuple[K8sSecretsPlugin, Recorder],
    kube_apiserver: KubeApiServer,
    k8s_namespace: str,
) -> None:
    plugin, recorder = recorded
    ours, foreign = canary(), canary()
    plugin.create_secret("snowflake-prod-credentials", k8s_namespace, {"SNOWFLAKE_PASSWORD": ours})
    raw_secret(
        kube_apiserver,
        k8s_namespace,
        "operator-made-secret",
        {"token": foreign.encode()},
        type="Opaque",
    )
    recorder.calls.clear()

    listed = plugin.list_secrets(k8s_namespace)

    assert len(recorder.calls) == 1
    call = recorder.calls[0]
    assert call["method"] == "GET"
    assert call["url"].endswith(f"/api/v1/namespaces/{k8s_namespace}/secrets")
    # the server-side Table (what kubectl get reads), its rows carrying metadata only
    assert call["headers"]["Accept"] == TABLE_ACCEPT
    raw: bytes = call["raw"]
    body = json.loads(raw)
    assert body["kind"] == "Table"
    objects = [row["object"] for row in body["rows"]]
    assert {o["kind"] for o in objects} == {"PartialObjectMetadata"}
    assert all("data" not in o and "stringData" not in o for o in objects)
    for value in (ours, foreign):
        assert value.encode() not in raw
        assert base64.b64encode(value.encode()) not in raw
    assert b'"data"' not in raw

    by_name = {meta.name: meta for meta in listed}
    assert list(by_name) == ["operator-made-secret", "snowflake-prod-credentials"]
    floe_made = by_name["snowflake-prod-credentials"]
    assert floe_made.keys == ("SNOWFLAKE_PASSWORD",)
    assert floe_made.managed_by_floe
    assert floe_made.keys_known is True
    operator_made = by_name["operator-made-secret"]
    assert not operator_made.managed_by_floe
    assert operator_made.keys_known is False
    assert operator_made.type == "Opaque"  # the real type, from the Table's Type cell
    assert operator_made.key_count == 1
    assert operator_made.created is not None
    # describe is the same Table narrowed to the name: type and key count, never a value (the
    # key names of a secret floe did not write come only with the values: not read)
    recorder.calls.clear()
    described = plugin.describe_secret("operator-made-secret", k8s_namespace)
    assert (described.type, described.keys_known, described.key_count) == (
        "Opaque",
        False,
        1,
    )
    (call,) = recorder.calls
    assert call["headers"]["Accept"] == TABLE_ACCEPT
    assert foreign.encode() not in call["raw"]
    assert base64.b64encode(foreign.encode()) not in call["raw"]


def test_thousand_secrets_listed_in_one_request(
    recorded: tuple[K8sSecretsPlugin, Recorder],
    kube_apiserver: KubeApiServer,
    k8s_namespace: str,
) -> None:
    plugin, recorder = recorded
    writer = K8sSecretsPlugin(api_client=kube_apiserver.api_client())
    names = [f"bulk-{i:04d}" for i in range(1000)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda n: writer.create_secret(n, k8s_namespace, {"K": "v" * 64}), names))
    recorder.calls.clear()

    started = time.monotonic()
    listed = plugin.list_secrets(k8s_namespace)
    elapsed = time.monotonic() - started

    assert len(recorder.calls) == 1
    assert [meta.name for meta in listed] == names
    assert all(meta.keys == ("K",) for meta in listed)
    assert b'"data"' not in recorder.calls[0]["raw"]
    recorder.calls.clear()
    versions = plugin.secret_versions(k8s_namespace)
    assert len(recorder.calls) == 1
    assert set(versions) == set(names)
    print(f"listed 1000 secrets in {elapsed:.3f} s, {len(recorder.calls[0]['raw'])} bytes")


# --- RBAC -------------------------------------------------------------------------------------


def _eventually(check: Callable[[], None], timeout: float = 10) -> None:
    """RBAC changes reach the authorizer's cache within moments, not instantly."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            check()
            return
        except SecretAccessDeniedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_restricted_identity_with_resource_names(
    kube_apiserver: KubeApiServer, k8s_namespace: str
) -> None:
    admin = K8sSecretsPlugin(api_client=kube_apiserver.api_client())
    allowed_value, other_value = canary(), canary()
    admin.create_secret("allowed-secret", k8s_namespace, {"KEY": allowed_value})
    admin.create_secret("other-secret", k8s_namespace, {"KEY": other_value})
    rbac = k8s.RbacAuthorizationV1Api(kube_apiserver.api_client())
    rbac.create_namespaced_role(
        k8s_namespace,
        {
            "metadata": {"name": "read-allowed-secret"},
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["secrets"],
                    "resourceNames": ["allowed-secret"],
                    "verbs": ["get"],
                }
            ],
        },
    )
    rbac.create_namespaced_role_binding(
        k8s_namespace,
        {
            "metadata": {"name": "read-allowed-secret"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "read-allowed-secret",
            },
            "subjects": [
                {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "User",
                    "name": kube_apiserver.restricted_user,
                }
            ],
        },
    )
    restricted = K8sSecretsPlugin(kubeconfig=str(kube_apiserver.restricted_kubeconfig))
    try:

        def can_read() -> None:
            restricted.get_secret("allowed-secret", k8s_namespace)

        _eventually(can_read)
        assert restricted.get_secret("allowed-secret", k8s_namespace)["KEY"].reveal() == (
            allowed_value
        )

        with pytest.raises(SecretAccessDeniedError) as denied:
            restricted.get_secret("other-secret", k8s_namespace)
        message = str(denied.value)
        assert "other-secret" in message
        assert k8s_namespace in message
        assert "'get'" in message
        assert kube_apiserver.restricted_user in message
        assert "resourceNames" in message
        assert denied.value.secret == "other-secret"
        assert denied.value.namespace == k8s_namespace
        assert_no_value(denied.value, other_value, allowed_value)

        with pytest.raises(SecretAccessDeniedError, match="'list'") as listing:
            restricted.list_secrets(k8s_namespace)
        assert k8s_namespace in str(listing.value)

        with pytest.raises(SecretAccessDeniedError, match="'create'"):
            restricted.create_secret("new-secret", k8s_namespace, {"KEY": canary()})
    finally:
        restricted.close()


# --- errors -------------------------------------------------------------------------------------


def test_missing_secret_says_how_to_create_it(plugin: K8sSecretsPlugin, k8s_namespace: str) -> None:
    with pytest.raises(SecretNotFoundError) as caught:
        plugin.get_secret("salesforce-credentials", k8s_namespace)
    assert "Run 'floe secrets create salesforce-credentials'" in str(caught.value)
    assert k8s_namespace in str(caught.value)
    assert caught.value.backend == "k8s"
    with pytest.raises(SecretNotFoundError):
        plugin.describe_secret("salesforce-credentials", k8s_namespace)
    with pytest.raises(SecretNotFoundError):
        plugin.update_secret("salesforce-credentials", k8s_namespace, {"K": "v"})


def test_duplicate_create_is_refused_and_changes_nothing(
    plugin: K8sSecretsPlugin, kube_apiserver: KubeApiServer, k8s_namespace: str
) -> None:
    first, second = canary(), canary()
    created = plugin.create_secret("dup-secret", k8s_namespace, {"KEY": first})
    with pytest.raises(SecretAlreadyExistsError) as caught:
        plugin.create_secret("dup-secret", k8s_namespace, {"KEY": second, "MORE": "x"})
    assert "already exists" in str(caught.value)
    assert "floe secrets rotate dup-secret" in str(caught.value)
    assert_no_value(caught.value, first, second)
    assert plugin.describe_secret("dup-secret", k8s_namespace).version == created.version
    assert plugin.get_secret("dup-secret", k8s_namespace)["KEY"].reveal() == first


def test_oversize_value_is_refused_before_any_request(
    recorded: tuple[K8sSecretsPlugin, Recorder], kube_apiserver: KubeApiServer, k8s_namespace: str
) -> None:
    plugin, recorder = recorded
    huge = canary() + "x" * (1024 * 1024)
    with pytest.raises(InvalidSecretValueError) as caught:
        plugin.create_secret("big-secret", k8s_namespace, {"BLOB": huge})
    assert "1 MiB" in str(caught.value)
    assert "big-secret" in str(caught.value)
    assert_no_value(caught.value, huge[:40])
    assert recorder.calls == []
    assert plugin.list_secrets(k8s_namespace) == []

    # made through the API, so the test's 700 kB value is not registered with the masker
    raw_secret(kube_apiserver, k8s_namespace, "grows-secret", {"A": b"a" * 700_000})
    before = plugin.describe_secret("grows-secret", k8s_namespace).version
    with pytest.raises(InvalidSecretValueError, match="1 MiB"):
        plugin.update_secret("grows-secret", k8s_namespace, {"B": "b" * 400_000}, merge=True)
    assert plugin.describe_secret("grows-secret", k8s_namespace).version == before
    assert {call["method"] for call in recorder.calls} == {"GET"}  # reads only, never a write


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("Not_A_Valid_Name", {"K": "v"}),
        ("-leading-dash", {"K": "v"}),
        ("x" * 254, {"K": "v"}),
        ("fine-name", {"bad key": "v"}),
        ("fine-name", {"..": "v"}),
    ],
)
def test_invalid_names_and_keys_are_refused_before_any_request(
    recorded: tuple[K8sSecretsPlugin, Recorder],
    k8s_namespace: str,
    name: str,
    data: dict[str, str],
) -> None:
    plugin, recorder = recorded
    with pytest.raises(InvalidSecretReferenceError) as caught:
        plugin.create_secret(name, k8s_namespace, data)
    assert "Fix:" in str(caught.value)
    assert recorder.calls == []
    assert plugin.list_secrets(k8s_namespace) == []


def test_invalid_namespace_is_refused(plugin: K8sSecretsPlugin) -> None:
    with pytest.raises(InvalidSecretReferenceError, match="namespace"):
        plugin.list_secrets("Bad_Namespace")


def test_missing_namespace_on_create(plugin: K8sSecretsPlugin) -> None:
    with pytest.raises(InvalidSecretReferenceError, match="does not exist"):
        plugin.create_secret("some-secret", f"absent-{uuid.uuid4().hex[:8]}", {"K": "v"})


def test_non_utf8_value_names_the_key(
    plugin: K8sSecretsPlugin, kube_apiserver: KubeApiServer, k8s_namespace: str
) -> None:
    binary = b"\xff\xfe\x00binary-" + uuid.uuid4().bytes
    raw_secret(kube_apiserver, k8s_namespace, "binary-secret", {"KEYSTORE": binary, "OK": b"t"})
    with pytest.raises(InvalidSecretValueError) as caught:
        plugin.get_secret("binary-secret", k8s_namespace)
    assert "'KEYSTORE'" in str(caught.value)
    assert "UTF-8" in str(caught.value)
    assert base64.b64encode(binary).decode() not in str(caught.value)
    described = plugin.describe_secret("binary-secret", k8s_namespace)  # no value read
    assert (described.keys_known, described.key_count) == (False, 2)


def test_apiserver_validation_error_names_no_value(
    plugin: K8sSecretsPlugin, kube_apiserver: KubeApiServer, k8s_namespace: str
) -> None:
    """A TLS secret must keep tls.crt/tls.key: replacing them is the apiserver's 422."""
    raw_secret(
        kube_apiserver,
        k8s_namespace,
        "tls-secret",
        {"tls.crt": b"cert", "tls.key": b"key"},
        type="kubernetes.io/tls",
    )
    value = canary()
    with pytest.raises(InvalidSecretValueError) as caught:
        plugin.update_secret("tls-secret", k8s_namespace, {"other": value})
    assert "tls.crt" in str(caught.value)
    assert_no_value(caught.value, value)
    described = plugin.describe_secret("tls-secret", k8s_namespace)  # unchanged, no value read
    assert (described.type, described.key_count) == ("kubernetes.io/tls", 2)


def test_values_never_in_error_text(plugin: K8sSecretsPlugin, k8s_namespace: str) -> None:
    value = canary()
    plugin.create_secret("error-text-secret", k8s_namespace, {"KEY": value})
    errors: list[FloeSecretsError] = []
    for attempt in (
        lambda: plugin.create_secret("error-text-secret", k8s_namespace, {"KEY": value}),
        lambda: plugin.create_secret("error-text-secret", k8s_namespace, {"bad key": value}),
        lambda: plugin.create_secret("big-one", k8s_namespace, {"K": value * 40_000}),
        lambda: plugin.update_secret("absent-secret", k8s_namespace, {"KEY": value}),
    ):
        with pytest.raises(FloeSecretsError) as caught:
            attempt()
        errors.append(caught.value)
    for error in errors:
        assert_no_value(error, value)
        assert "Fix:" in str(error)


# --- configuration and transport ----------------------------------------------------------------


def test_client_is_created_lazily(tmp_path: Path) -> None:
    plugin = K8sSecretsPlugin(kubeconfig=str(tmp_path / "absent"), context="nowhere")
    with pytest.raises(BackendUnavailableError, match="kubeconfig") as caught:
        plugin.list_secrets("default")
    assert "--kubeconfig" in str(caught.value)


def test_context_selects_the_identity(kube_apiserver: KubeApiServer, tmp_path: Path) -> None:
    merged = yaml.safe_load(kube_apiserver.admin_kubeconfig.read_text())
    restricted = yaml.safe_load(kube_apiserver.restricted_kubeconfig.read_text())
    merged["users"] += restricted["users"]
    merged["contexts"] += restricted["contexts"]
    path = tmp_path / "merged.kubeconfig"
    path.write_text(yaml.safe_dump(merged))
    as_admin = K8sSecretsPlugin(kubeconfig=str(path))
    as_restricted = K8sSecretsPlugin(kubeconfig=str(path), context=kube_apiserver.restricted_user)
    try:
        as_admin.list_secrets("default")
        with pytest.raises(SecretAccessDeniedError):
            as_restricted.list_secrets("default")
    finally:
        as_admin.close()
        as_restricted.close()


def test_in_cluster_outside_a_pod_is_a_clear_error() -> None:
    with pytest.raises(BackendUnavailableError, match="ServiceAccount"):
        K8sSecretsPlugin(in_cluster=True).list_secrets("default")


def test_unreachable_apiserver_fails_after_bounded_retries(
    kube_apiserver: KubeApiServer, tmp_path: Path
) -> None:
    config = yaml.safe_load(kube_apiserver.admin_kubeconfig.read_text())
    dead = f"https://127.0.0.1:{free_port()}"
    config["clusters"][0]["cluster"]["server"] = dead
    path = tmp_path / "dead.kubeconfig"
    path.write_text(yaml.safe_dump(config))

    class FastRetry(K8sSecretsPlugin):
        retry_policy = RetryPolicy(attempts=3, max_seconds=10, initial_wait=0.01, max_wait=0.05)

    plugin = FastRetry(kubeconfig=str(path))
    started = time.monotonic()
    try:
        with pytest.raises(BackendUnavailableError) as caught:
            plugin.get_secret("any-secret", "default")
    finally:
        plugin.close()
    assert time.monotonic() - started < 10
    assert dead in str(caught.value)
    assert "3 attempt(s)" in str(caught.value)


# --- throttling: a real apiserver answering 429 -------------------------------------------------


@pytest.fixture(scope="module")
def throttled_apiserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeApiServer]:
    """A second apiserver that admits one mutating request at a time (classic max-in-flight).

    Priority and fairness is off so the old limiter answers 429 at once instead of queueing;
    system:masters is exempt from it, so the tests act as the restricted user.
    """
    server = KubeApiServer(
        tmp_path_factory.mktemp("throttled-apiserver"),
        extra_args=[
            "--enable-priority-and-fairness=false",
            "--max-mutating-requests-inflight=1",
        ],
    )
    problem: Exception | None = None
    try:
        server.start()
    except ServerStartError as e:
        problem = e
    if problem is not None:
        server.stop()
        pytest.fail(f"throttled kube-apiserver could not start:\n{problem}", pytrace=False)
    yield server
    server.stop()


@contextlib.contextmanager
def holding_the_mutating_slot(server: KubeApiServer, namespace: str) -> Iterator[None]:
    """Occupy the only mutating slot: a POST whose body arrives only when the block ends."""
    body = json.dumps({"metadata": {"name": "slot-holder"}}).encode()
    context = ssl.create_default_context(cafile=str(server.ca_file))
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        tls.sendall(
            f"POST /api/v1/namespaces/{namespace}/secrets HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{server.port}\r\n"
            f"Authorization: Bearer {server.restricted_token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body[:1]
        )
        time.sleep(0.3)  # let the apiserver take the slot and block reading the body
        try:
            yield
        finally:
            tls.sendall(body[1:])
            tls.recv(4096)


def _grant_create(server: KubeApiServer, namespace: str) -> None:
    rbac = k8s.RbacAuthorizationV1Api(server.api_client())
    rbac.create_namespaced_role(
        namespace,
        {
            "metadata": {"name": "writer"},
            "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["create", "get"]}],
        },
    )
    rbac.create_namespaced_role_binding(
        namespace,
        {
            "metadata": {"name": "writer"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "writer"},
            "subjects": [
                {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "User",
                    "name": server.restricted_user,
                }
            ],
        },
    )


class _Patient(K8sSecretsPlugin):
    retry_policy = RetryPolicy(attempts=10, max_seconds=20, initial_wait=0.1, max_wait=0.4)


class _Impatient(K8sSecretsPlugin):
    retry_policy = RetryPolicy(attempts=3, max_seconds=5, initial_wait=0.05, max_wait=0.1)


def test_throttled_write_is_retried_until_it_succeeds(throttled_apiserver: KubeApiServer) -> None:
    server = throttled_apiserver
    namespace = server.create_namespace()
    _grant_create(server, namespace)
    api = server.new_client(server.restricted_kubeconfig)
    recorder = Recorder(api)
    plugin = _Patient(api_client=api)
    value = canary()
    try:
        worker = threading.Thread(
            target=lambda: plugin.create_secret("throttled-secret", namespace, {"KEY": value})
        )
        with holding_the_mutating_slot(server, namespace):
            worker.start()
            time.sleep(0.8)  # the plugin meets 429s and backs off while the slot is taken
        worker.join(timeout=30)
        statuses = [call["status"] for call in recorder.calls if call["method"] == "POST"]
        assert statuses[0] == 429
        assert statuses[-1] == 201
        assert 429 not in statuses[statuses.index(201) :]
        assert plugin.describe_secret("throttled-secret", namespace).keys == ("KEY",)
    finally:
        api.close()


def test_throttling_that_outlasts_the_retries_is_backend_unavailable(
    throttled_apiserver: KubeApiServer,
) -> None:
    server = throttled_apiserver
    namespace = server.create_namespace()
    _grant_create(server, namespace)
    api = server.new_client(server.restricted_kubeconfig)
    recorder = Recorder(api)
    plugin = _Impatient(api_client=api)
    value = canary()
    try:
        with (
            holding_the_mutating_slot(server, namespace),
            pytest.raises(BackendUnavailableError) as caught,
        ):
            plugin.create_secret("never-written", namespace, {"KEY": value})
        assert "429" in str(caught.value)
        assert "3 time(s)" in str(caught.value)
        assert [call["status"] for call in recorder.calls] == [429, 429, 429]
        assert_no_value(caught.value, value)
        with pytest.raises(SecretNotFoundError):
            plugin.describe_secret("never-written", namespace)
    finally:
        api.close()


# --- retry policy (pure logic; no server) -------------------------------------------------------


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_transient_statuses_are_retried_with_a_bound(status: int) -> None:
    calls: list[int] = []
    sleeps: list[float] = []

    def failing() -> None:
        calls.append(1)
        raise ApiException(status=status, reason="busy")

    with pytest.raises(ApiException):
        call_with_retry(failing, policy=RetryPolicy(attempts=4), sleep=sleeps.append)
    assert len(calls) == 4
    assert len(sleeps) == 3
    assert sleeps[0] <= sleeps[-1] + 0.5  # grows (with jitter)
    assert is_transient(ApiException(status=status))


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
def test_answers_are_never_retried(status: int) -> None:
    calls: list[int] = []

    def failing() -> None:
        calls.append(1)
        raise ApiException(status=status, reason="answer")

    with pytest.raises(ApiException):
        call_with_retry(failing, sleep=lambda _: None)
    assert calls == [1]


def test_connection_errors_are_transient_and_success_ends_retrying() -> None:
    outcomes: list[BaseException | str] = [ConnectionResetError(), ConnectionRefusedError(), "ok"]

    def flaky() -> str:
        outcome = outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    assert call_with_retry(flaky, sleep=lambda _: None) == "ok"
    assert outcomes == []
    assert is_transient(TimeoutError())
    assert not is_transient(ValueError())
