"""The local store on the real filesystem: CRUD, permissions, atomicity, concurrency, limits."""

from __future__ import annotations

import json
import multiprocessing
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from floe_dagster_secrets.backends.local import MAX_NAME_LENGTH, LocalSecretsPlugin
from floe_dagster_secrets.backends.local import plugin as local_module
from floe_dagster_secrets.backends.local.files import write_atomic
from floe_dagster_secrets.backends.validation import MAX_SECRET_BYTES
from floe_dagster_secrets.errors import (
    BackendUnavailableError,
    FloeSecretsError,
    InvalidSecretReferenceError,
    InvalidSecretValueError,
    SecretAccessDeniedError,
    SecretAlreadyExistsError,
    SecretNotFoundError,
)
from floe_dagster_secrets.masking import get_masker
from floe_dagster_secrets.types import SecretValue

NS = "floe-jobs"
CANARY = "canary-local-7f3a9c2e51"


@pytest.fixture
def store(tmp_path: Path) -> LocalSecretsPlugin:
    return LocalSecretsPlugin(path=tmp_path / "store")


def secret_file(store: LocalSecretsPlugin, name: str, namespace: str = NS) -> Path:
    return store.root / namespace / f"{name}.json"


def leftovers(directory: Path) -> list[str]:
    return [p.name for p in directory.iterdir() if p.name.endswith(".tmp")]


# -- CRUD ----------------------------------------------------------------------------------


def test_create_get_describe_round_trip(store: LocalSecretsPlugin) -> None:
    meta = store.create_secret("pg-credentials", NS, {"USER": "floe", "PASSWORD": CANARY})
    assert (meta.name, meta.namespace, meta.backend) == ("pg-credentials", NS, "local")
    assert meta.keys == ("PASSWORD", "USER")
    assert meta.version == "1"
    assert meta.managed_by_floe
    assert meta.created is not None
    assert meta.created.tzinfo is not None

    data = store.get_secret("pg-credentials", NS)
    assert all(isinstance(v, SecretValue) for v in data.values())
    assert {k: v.reveal() for k, v in data.items()} == {"USER": "floe", "PASSWORD": CANARY}
    assert store.describe_secret("pg-credentials", NS) == meta


def test_file_layout_matches_the_documented_format(store: LocalSecretsPlugin) -> None:
    store.create_secret("pg-credentials", NS, {"PASSWORD": CANARY})
    document = json.loads(secret_file(store, "pg-credentials").read_text())
    assert set(document) == {"version", "created", "updated", "type", "data"}
    assert document["version"] == 1
    assert document["type"] == "Opaque"
    assert document["data"] == {"PASSWORD": CANARY}


def test_create_twice_is_an_error(store: LocalSecretsPlugin) -> None:
    store.create_secret("s", NS, {"A": "1"})
    with pytest.raises(SecretAlreadyExistsError, match="floe secrets rotate s") as info:
        store.create_secret("s", NS, {"A": "2"})
    assert (info.value.secret, info.value.namespace, info.value.backend) == ("s", NS, "local")
    assert store.get_secret("s", NS)["A"].reveal() == "1"


def test_update_replaces_or_merges_and_bumps_the_version(store: LocalSecretsPlugin) -> None:
    created = store.create_secret("s", NS, {"A": "1", "B": "2"})
    merged = store.update_secret("s", NS, {"B": "3", "C": "4"}, merge=True)
    assert merged.version == "2"
    assert merged.keys == ("A", "B", "C")
    assert merged.created == created.created
    assert merged.updated is not None
    assert created.updated is not None
    assert merged.updated >= created.updated
    replaced = store.update_secret("s", NS, {"Z": "9"})
    assert replaced.version == "3"
    assert replaced.keys == ("Z",)
    assert {k: v.reveal() for k, v in store.get_secret("s", NS).items()} == {"Z": "9"}


def test_missing_secret_errors_name_secret_namespace_and_fix(store: LocalSecretsPlugin) -> None:
    for call in (
        lambda: store.get_secret("nope", NS),
        lambda: store.describe_secret("nope", NS),
        lambda: store.update_secret("nope", NS, {"A": "1"}),
        lambda: store.delete_secret("nope", NS),
    ):
        with pytest.raises(SecretNotFoundError, match="floe secrets create nope") as info:
            call()
        assert info.value.secret == "nope"
        assert info.value.namespace == NS
        assert info.value.backend == "local"


def test_delete_then_recreate_never_reuses_a_version(store: LocalSecretsPlugin) -> None:
    store.create_secret("s", NS, {"A": "1"})
    store.update_secret("s", NS, {"A": "2"})
    store.delete_secret("s", NS)
    assert store.list_secrets(NS) == []
    with pytest.raises(SecretNotFoundError):
        store.get_secret("s", NS)
    again = store.create_secret("s", NS, {"A": "3"})
    assert again.version == "3"
    assert not (store.root / NS / "s.deleted").exists()


def test_list_and_versions_are_metadata_only_and_sorted(store: LocalSecretsPlugin) -> None:
    assert store.list_secrets(NS) == []  # the store does not exist yet
    store.create_secret("b-secret", NS, {"K": CANARY})
    store.create_secret("a-secret", NS, {"K": "x"})
    store.update_secret("b-secret", NS, {"K": "y"})
    store.create_secret("other", "other-ns", {"K": "z"})
    get_masker().clear()
    listed = store.list_secrets(NS)
    assert [m.name for m in listed] == ["a-secret", "b-secret"]
    assert store.secret_versions(NS) == {"a-secret": "1", "b-secret": "2"}
    assert CANARY not in repr(listed)
    assert CANARY not in json.dumps([m.to_json() for m in listed])
    # Metadata reads never wrap (and so never register) a value.
    assert get_masker().registered_count == 0


def test_foreign_files_in_a_namespace_are_ignored(store: LocalSecretsPlugin) -> None:
    store.create_secret("s", NS, {"A": "1"})
    (store.root / NS / "README.txt").write_text("notes")
    (store.root / NS / "Not_A_Name.json").write_text("{}")
    assert [m.name for m in store.list_secrets(NS)] == ["s"]


def test_relative_path_is_resolved_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    plugin = LocalSecretsPlugin()
    assert plugin.root == tmp_path / ".floe" / "secrets"
    monkeypatch.chdir("/")
    plugin.create_secret("s", NS, {"A": "1"})
    assert (tmp_path / ".floe" / "secrets" / NS / "s.json").exists()


# -- permissions ---------------------------------------------------------------------------


def test_files_are_0600_directories_0700_and_store_is_gitignored(
    store: LocalSecretsPlugin,
) -> None:
    store.create_secret("s", NS, {"A": "1"})
    store.update_secret("s", NS, {"A": "2"})
    assert stat.S_IMODE(secret_file(store, "s").stat().st_mode) == 0o600
    assert stat.S_IMODE((store.root / NS / ".lock").stat().st_mode) == 0o600
    assert stat.S_IMODE(store.root.stat().st_mode) == 0o700
    assert stat.S_IMODE((store.root / NS).stat().st_mode) == 0o700
    for directory in (store.root, store.root / NS):  # both were created by the store
        assert "*" in (directory / ".gitignore").read_text().splitlines()


def test_missing_parents_are_created_private(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    plugin = LocalSecretsPlugin(path=tmp_path / "a" / "b")
    plugin.create_secret("s", NS, {"A": "1"})
    assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o755  # existing directories are left alone
    for directory in (tmp_path / "a", tmp_path / "a" / "b", tmp_path / "a" / "b" / NS):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o666])
def test_file_open_to_others_is_refused_with_chmod_fix(
    store: LocalSecretsPlugin, mode: int
) -> None:
    store.create_secret("s", NS, {"A": CANARY})
    path = secret_file(store, "s")
    path.chmod(mode)
    for call in (
        lambda: store.get_secret("s", NS),
        lambda: store.describe_secret("s", NS),
    ):
        with pytest.raises(SecretAccessDeniedError) as info:
            call()
        assert f"chmod 600 {path}" in str(info.value)
        assert CANARY not in str(info.value)
    [listed] = store.list_secrets(NS)  # listed as unreadable, with the same fix
    assert listed.type == local_module.UNREADABLE_TYPE
    assert f"chmod 600 {path}" in listed.extra["fix"]
    path.chmod(0o600)
    assert store.get_secret("s", NS)["A"].reveal() == CANARY


def test_symlinked_secret_file_is_refused(store: LocalSecretsPlugin, tmp_path: Path) -> None:
    store.create_secret("s", NS, {"A": "1"})
    elsewhere = tmp_path / "elsewhere.json"
    secret_file(store, "s").rename(elsewhere)
    secret_file(store, "s").symlink_to(elsewhere)
    with pytest.raises(SecretAccessDeniedError, match="symbolic link"):
        store.get_secret("s", NS)


# -- corruption ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("contents", "why"),
    [
        (b'{"version": 1, "data": {"A": "' + CANARY.encode(), "invalid JSON"),
        (b"\xff\xfe" + CANARY.encode(), "not UTF-8"),
        (b"[]", "not a JSON object"),
        (json.dumps({"version": 0, "data": {}}).encode(), "'version'"),
        (json.dumps({"version": 1, "data": {"A": 1}}).encode(), "'data'"),
        (json.dumps({"version": 1, "data": {"A": CANARY}}).encode(), "'created'"),
    ],
)
def test_corrupted_file_names_the_file_and_the_fix(
    store: LocalSecretsPlugin, contents: bytes, why: str
) -> None:
    store.create_secret("s", NS, {"A": "1"})
    path = secret_file(store, "s")
    path.write_bytes(contents)
    with pytest.raises(InvalidSecretValueError) as info:
        store.get_secret("s", NS)
    message = str(info.value)
    assert "corrupted" in message
    assert why in message
    assert str(path) in message
    assert "restore" in message
    assert "floe secrets create s" in message
    assert CANARY not in message
    # Deleting the corrupted secret is the documented way out.
    store.delete_secret("s", NS)
    assert store.create_secret("s", NS, {"A": "2"}).version == "1"


# -- validation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["", "UPPER", "under_score", "-lead", "trail-", "a..b", "a/b", "../escape", "x" * 254],
)
def test_invalid_secret_names_are_refused(store: LocalSecretsPlugin, name: str) -> None:
    with pytest.raises(InvalidSecretReferenceError, match="not a valid secret name"):
        store.create_secret(name, NS, {"A": "1"})
    with pytest.raises(InvalidSecretReferenceError):
        store.get_secret(name, NS)
    assert not store.root.exists()


def test_valid_names_include_dots_and_the_longest_a_file_can_hold(
    store: LocalSecretsPlugin,
) -> None:
    longest = ("a" * 63 + ".") * 3 + "a" * (MAX_NAME_LENGTH - 192)
    assert len(longest) == MAX_NAME_LENGTH
    for name in ("a", "snowflake-credentials", "tls.example.com", longest):
        store.create_secret(name, NS, {"A": "1"})
        store.update_secret(name, NS, {"A": "2"})
        store.delete_secret(name, NS)
        store.create_secret(name, NS, {"A": "3"})
    # Kubernetes allows 253 characters; a filename cannot hold that plus its suffix.
    with pytest.raises(InvalidSecretReferenceError, match=f"at most {MAX_NAME_LENGTH}"):
        store.create_secret(longest + "bbbbb", NS, {"A": "1"})


@pytest.mark.parametrize("namespace", ["", "Floe", "floe_jobs", "a.b", "../x", "n" * 64])
def test_invalid_namespaces_are_refused(store: LocalSecretsPlugin, namespace: str) -> None:
    with pytest.raises(InvalidSecretReferenceError, match="not a valid namespace name"):
        store.create_secret("s", namespace, {"A": "1"})
    with pytest.raises(InvalidSecretReferenceError):
        store.list_secrets(namespace)


@pytest.mark.parametrize("key", ["", "has space", "a/b", ".", "..", "..x", "é", "k" * 254])
def test_invalid_keys_are_refused(store: LocalSecretsPlugin, key: str) -> None:
    with pytest.raises(InvalidSecretReferenceError, match="not a valid secret key"):
        store.create_secret("s", NS, {key: "v"})
    assert not store.root.exists()


def test_valid_keys_follow_the_kubernetes_rule(store: LocalSecretsPlugin) -> None:
    keys = {"A": "1", "tls.crt": "2", "my-key_1": "3", ".dotfile": "4", "k" * 253: "5"}
    assert set(store.create_secret("s", NS, keys).keys) == set(keys)


def test_non_utf8_value_is_refused_naming_the_key_and_writing_nothing(
    store: LocalSecretsPlugin,
) -> None:
    bad = b"prefix-\xff\xfe-suffix".decode("utf-8", "surrogateescape")
    with pytest.raises(InvalidSecretValueError, match="key 'BINARY' is not valid UTF-8") as info:
        store.create_secret("s", NS, {"OK": "fine", "BINARY": bad})
    assert "prefix" not in str(info.value)
    assert info.value.__cause__ is None  # the UnicodeEncodeError would carry the value
    assert not store.root.exists()
    store.create_secret("s", NS, {"OK": "fine"})
    with pytest.raises(InvalidSecretValueError, match="BINARY"):
        store.update_secret("s", NS, {"BINARY": bad}, merge=True)
    assert store.describe_secret("s", NS).version == "1"


def test_non_text_value_is_refused(store: LocalSecretsPlugin) -> None:
    with pytest.raises(InvalidSecretValueError, match="key 'B' is a bytes, not text"):
        store.create_secret("s", NS, {"B": b"raw"})  # type: ignore[dict-item]


def test_over_one_mebibyte_is_refused_naming_the_largest_key(store: LocalSecretsPlugin) -> None:
    exactly = {"A": "a" * (MAX_SECRET_BYTES - 10), "B": "b" * 10}
    store.create_secret("at-limit", NS, exactly)
    with pytest.raises(InvalidSecretValueError, match="largest is key 'BIG'") as info:
        store.create_secret("s", NS, {"BIG": "x" * MAX_SECRET_BYTES, "SMALL": "y"})
    assert "1 MiB" in str(info.value)
    assert len(str(info.value)) < 1000
    assert not secret_file(store, "s").exists()
    # Multi-byte characters count as bytes, as in Kubernetes.
    with pytest.raises(InvalidSecretValueError):
        store.create_secret("s", NS, {"EURO": "€" * (MAX_SECRET_BYTES // 3 + 1)})
    # A merge that would grow past the limit is refused too, leaving the old version.
    with pytest.raises(InvalidSecretValueError, match="'A'"):
        store.update_secret("at-limit", NS, {"C": "c" * 11}, merge=True)
    assert store.describe_secret("at-limit", NS).version == "1"


def test_errors_never_contain_values(store: LocalSecretsPlugin) -> None:
    store.create_secret("s", NS, {"PASSWORD": CANARY})
    failures: list[FloeSecretsError] = []
    for call in (
        lambda: store.create_secret("s", NS, {"PASSWORD": CANARY}),
        lambda: store.create_secret("t", NS, {"bad key": CANARY}),
        lambda: store.create_secret("t", NS, {"K": CANARY + "\udcff"}),
        lambda: store.create_secret("t", NS, {"K": CANARY * (MAX_SECRET_BYTES // 10)}),
        lambda: store.update_secret("missing", NS, {"K": CANARY}),
    ):
        with pytest.raises(FloeSecretsError) as info:
            call()
        failures.append(info.value)
    for error in failures:
        assert CANARY not in str(error)
        assert CANARY not in repr(error)
        assert error.fix


# -- atomicity -----------------------------------------------------------------------------


def test_writes_leave_no_temporary_files(store: LocalSecretsPlugin) -> None:
    store.create_secret("s", NS, {"A": "1"})
    for i in range(5):
        store.update_secret("s", NS, {"A": str(i)})
    assert leftovers(store.root / NS) == []
    assert sorted(p.name for p in (store.root / NS).iterdir()) == [".gitignore", ".lock", "s.json"]


@pytest.mark.parametrize("failure", [OSError(28, "No space left on device"), RuntimeError("boom")])
def test_crash_during_replace_keeps_the_old_version(
    store: LocalSecretsPlugin, monkeypatch: pytest.MonkeyPatch, failure: Exception
) -> None:
    store.create_secret("s", NS, {"A": "old"})

    def crash(src: str, dst: str) -> None:
        raise failure

    monkeypatch.setattr(os, "replace", crash)
    expected = BackendUnavailableError if isinstance(failure, OSError) else RuntimeError
    with pytest.raises(expected):
        store.update_secret("s", NS, {"A": "new"})
    monkeypatch.undo()
    assert store.get_secret("s", NS)["A"].reveal() == "old"
    assert store.describe_secret("s", NS).version == "1"
    assert leftovers(store.root / NS) == []


def test_write_atomic_replaces_whole_file(tmp_path: Path) -> None:
    write_atomic(tmp_path, "f", b"one")
    write_atomic(tmp_path, "f", b"two")
    assert (tmp_path / "f").read_bytes() == b"two"
    assert stat.S_IMODE((tmp_path / "f").stat().st_mode) == 0o600


def test_lock_held_too_long_is_a_clear_error(
    store: LocalSecretsPlugin, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.create_secret("s", NS, {"A": "1"})
    monkeypatch.setattr(local_module, "LOCK_TIMEOUT_SECONDS", 0.2)
    holder = multiprocessing.get_context("spawn").Process(
        target=_hold_lock, args=(str(store.root / NS / ".lock"), 5.0)
    )
    ready = store.root / NS / "holding"
    holder.start()
    try:
        _wait_for(ready)
        with pytest.raises(BackendUnavailableError, match="held the store lock"):
            store.update_secret("s", NS, {"A": "2"})
    finally:
        holder.terminate()
        holder.join()
    assert store.update_secret("s", NS, {"A": "2"}).version == "2"


# -- concurrency ---------------------------------------------------------------------------


def _writer(root: str, label: str, count: int, start: Any, versions: Any) -> None:
    plugin = LocalSecretsPlugin(path=root)
    start.wait(timeout=60)  # both processes begin together, so their writes contend
    seen = [
        plugin.update_secret("shared", NS, {f"{label}_{i}": str(i)}, merge=True).version
        for i in range(count)
    ]
    versions.put((label, seen))


def _hold_lock(lock_path: str, seconds: float) -> None:
    import fcntl
    import time

    fd = os.open(lock_path, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    Path(lock_path).with_name("holding").touch()
    time.sleep(seconds)


def _wait_for(path: Path, timeout: float = 20.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.01)


def test_two_concurrent_writer_processes_lose_no_update(store: LocalSecretsPlugin) -> None:
    initial = int(store.create_secret("shared", NS, {"SEED": "0"}).version)
    context = multiprocessing.get_context("spawn")
    start, versions = context.Barrier(2), context.Queue()
    writers = [
        context.Process(target=_writer, args=(str(store.root), label, 50, start, versions))
        for label in ("P", "Q")
    ]
    for writer in writers:
        writer.start()
    results = dict(versions.get(timeout=120) for _ in writers)
    for writer in writers:
        writer.join(timeout=120)
        assert writer.exitcode == 0
    meta = store.describe_secret("shared", NS)
    assert int(meta.version) == initial + 100
    # Every write got its own version: no two read-modify-writes overlapped.
    every = sorted(int(v) for seen in results.values() for v in seen)
    assert every == list(range(initial + 1, initial + 101))
    for seen in results.values():
        assert [int(v) for v in seen] == sorted(int(v) for v in seen)  # versions only go up
    # Waiters block in flock and are woken on release, so neither writer starves the other
    # (a LOCK_NB poller got no turn at all until the other writer had finished).
    p, q = ([int(v) for v in results[label]] for label in ("P", "Q"))
    assert min(p) < max(q)
    assert min(q) < max(p)
    expected = {"SEED"} | {f"{label}_{i}" for label in ("P", "Q") for i in range(50)}
    assert set(meta.keys) == expected
    assert leftovers(store.root / NS) == []


def test_abandoned_lock_wait_lets_go_once_it_gets_the_lock(tmp_path: Path) -> None:
    import fcntl
    import threading
    import time

    from floe_dagster_secrets.backends.local.files import LockTimeoutError, exclusive_lock

    lock_path = tmp_path / ".lock"
    holder = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)  # another open file: contends
    fcntl.flock(holder, fcntl.LOCK_EX)
    with pytest.raises(LockTimeoutError), exclusive_lock(lock_path, timeout=0.1):
        pass
    os.close(holder)  # the abandoned waiter now gets the lock, and must release it at once
    deadline = time.monotonic() + 10
    while any(t.name.startswith("floe-lock") for t in threading.enumerate()):
        assert time.monotonic() < deadline, "the abandoned lock waiter never finished"
        time.sleep(0.01)
    with exclusive_lock(lock_path, timeout=1):
        probe = os.open(lock_path, os.O_RDWR)
        with pytest.raises(BlockingIOError):
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.close(probe)


# -- hostile store files (issue 17) ---------------------------------------------------------


def _other_owner(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``path`` belong to another user: chown as root, else the store runs as another uid."""
    if os.geteuid() == 0:
        os.chown(path, 4242, 4242, follow_symlinks=False)
    else:  # an unprivileged user cannot give a file away; the store then checks another uid
        from floe_dagster_secrets.backends.local import files as _local_files

        monkeypatch.setattr(_local_files.os, "geteuid", lambda: os.getuid() + 4242)


@pytest.mark.parametrize("which", ["root", "namespace"])
@pytest.mark.parametrize("mode", [0o777, 0o770, 0o722, 0o1777])
def test_store_directory_writable_by_others_is_refused_like_ssh(
    store: LocalSecretsPlugin, which: str, mode: int
) -> None:
    # Another user could swap in their own 0600 file: get --reveal would print their value.
    store.create_secret("s", NS, {"A": CANARY})
    directory = store.root if which == "root" else store.root / NS
    directory.chmod(mode)
    for call in (
        lambda: store.get_secret("s", NS),
        lambda: store.describe_secret("s", NS),
        lambda: store.list_secrets(NS),
        lambda: store.update_secret("s", NS, {"A": "x"}),
        lambda: store.create_secret("t", NS, {"A": "x"}),
    ):
        with pytest.raises(SecretAccessDeniedError) as info:
            call()
        message = str(info.value)
        assert "Store directory refused: group or others can write into it" in message
        assert f"chmod 700 {directory}" in message
        assert CANARY not in message
    directory.chmod(0o755)  # readable by others is fine (as for ~/.ssh); writable is not
    assert store.get_secret("s", NS)["A"].reveal() == CANARY


def test_file_or_directory_of_another_user_is_refused_with_chown_fix(
    store: LocalSecretsPlugin, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.create_secret("s", NS, {"A": CANARY})
    path = secret_file(store, "s")
    _other_owner(path, monkeypatch)
    with pytest.raises(SecretAccessDeniedError) as info:
        store.get_secret("s", NS)
    message = str(info.value)
    assert "owned by uid" in message
    assert "chown" in message
    assert CANARY not in message
    if os.geteuid() == 0:  # with a real other owner, the directory check passes: try it too
        os.chown(path, 0, 0)
        _other_owner(store.root / NS, monkeypatch)
        with pytest.raises(SecretAccessDeniedError, match="Store directory refused: it is owned"):
            store.list_secrets(NS)


def test_one_bad_file_is_listed_by_name_and_the_others_still_list(
    store: LocalSecretsPlugin, tmp_path: Path
) -> None:
    for name in ("a-ok", "b-corrupt", "c-link", "d-ok"):
        store.create_secret(name, NS, {"A": CANARY})
    secret_file(store, "b-corrupt").write_bytes(b'{"version": 1, "data": {"A": "' + b"x")
    elsewhere = tmp_path / "elsewhere.json"
    secret_file(store, "c-link").rename(elsewhere)
    secret_file(store, "c-link").symlink_to(elsewhere)

    listed = {meta.name: meta for meta in store.list_secrets(NS)}
    assert sorted(listed) == ["a-ok", "b-corrupt", "c-link", "d-ok"]
    assert listed["a-ok"].keys == ("A",)
    for bad, why in (("b-corrupt", "invalid JSON"), ("c-link", "symbolic link")):
        assert listed[bad].type == local_module.UNREADABLE_TYPE
        assert why in listed[bad].extra["problem"]
        assert listed[bad].keys_known is False
        assert CANARY not in str(listed[bad])
    assert store.secret_versions(NS) == {"a-ok": "1", "d-ok": "1"}  # no version to watch
    with pytest.raises(InvalidSecretValueError, match="corrupted: invalid JSON"):
        store.get_secret("b-corrupt", NS)


@pytest.mark.parametrize(
    ("document", "why"),
    [
        ('{"version": ' + "9" * 5000 + ', "data": {}}', "more than 18 digits"),
        ('{"version": 1, "data": ' + "[" * 100_000 + "]" * 100_000 + "}", "nests JSON too deeply"),
        ('{"version": 1e999999, "data": {}}', "'version' is not a positive integer"),
        ('{"version": 1, "data": {"bad key/../x": "v"}}', "1 key name(s) in 'data' break"),
        ('{"version": 1, "data": {"A": "v"}, "type": ["x"]}', "'type' is not"),
    ],
)
def test_hand_edited_file_is_a_clear_error_never_the_bug_fallback(
    store: LocalSecretsPlugin, document: str, why: str
) -> None:
    store.create_secret("s", NS, {"A": "1"})
    secret_file(store, "s").write_text(document)
    with pytest.raises(InvalidSecretValueError) as info:
        store.get_secret("s", NS)
    assert why in str(info.value)
    assert "bad key" not in str(info.value)
    [listed] = store.list_secrets(NS)
    assert listed.type == local_module.UNREADABLE_TYPE


def test_oversized_file_is_refused_without_reading_it_all(store: LocalSecretsPlugin) -> None:
    store.create_secret("s", NS, {"A": "1"})
    with secret_file(store, "s").open("r+b") as f:
        f.truncate(64 * MAX_SECRET_BYTES)  # sparse: 64 MiB of zeros on no disk space
    with pytest.raises(InvalidSecretValueError, match="over 8388608 bytes"):
        store.get_secret("s", NS)


def test_stale_temporary_file_of_a_crashed_write_is_removed_at_next_write_or_list(
    store: LocalSecretsPlugin,
) -> None:
    store.create_secret("s", NS, {"A": CANARY})
    ns_dir = store.root / NS
    for leftover in (".floe-crash1.tmp", ".floe-crash2.tmp"):  # crashed between fsync and rename
        write_atomic(ns_dir, leftover, secret_file(store, "s").read_bytes())
    (ns_dir / ".floe-link.tmp").symlink_to(secret_file(store, "s"))  # unlink never follows it
    assert [m.name for m in store.list_secrets(NS)] == ["s"]
    assert leftovers(ns_dir) == []
    assert secret_file(store, "s").exists()
    write_atomic(ns_dir, ".floe-crash3.tmp", b"x")
    store.update_secret("s", NS, {"B": "2"}, merge=True)
    assert leftovers(ns_dir) == []


def test_store_path_that_already_exists_gets_no_gitignore_hiding_its_files(
    tmp_path: Path,
) -> None:
    # `--store-path .` at a repository root: the root is the user's, only the store's own
    # namespace directory is ignored.
    tmp_path.chmod(0o755)
    (tmp_path / "notes.txt").write_text("mine")
    store = LocalSecretsPlugin(path=tmp_path)
    store.create_secret("s", NS, {"A": "1"})
    assert not (tmp_path / ".gitignore").exists()
    assert (tmp_path / NS / ".gitignore").read_text().splitlines()[-1] == "*"
    assert [m.name for m in store.list_secrets(NS)] == ["s"]


def test_fifo_planted_under_a_secrets_name_is_refused_not_waited_on(
    store: LocalSecretsPlugin,
) -> None:
    store.create_secret("s", NS, {"A": "1"})
    path = secret_file(store, "s")
    path.unlink()
    os.mkfifo(path, 0o600)  # nobody writes to it: a blocking open would hang forever
    with pytest.raises(SecretAccessDeniedError, match="not a regular file"):
        store.get_secret("s", NS)
    [listed] = store.list_secrets(NS)
    assert listed.type == local_module.UNREADABLE_TYPE


def test_a_read_only_namespace_with_a_stale_temporary_still_lists(
    store: LocalSecretsPlugin,
) -> None:
    store.create_secret("s", NS, {"A": "1"})
    ns_dir = store.root / NS
    write_atomic(ns_dir, ".floe-crash.tmp", b"x")
    (ns_dir / ".lock").unlink()
    ns_dir.chmod(0o500)  # cannot create the lock file: no clean-up, but the listing works
    try:
        if os.geteuid() == 0:  # root ignores the mode: make the lock path unusable instead
            (ns_dir / ".lock").mkdir()
        assert [m.name for m in store.list_secrets(NS)] == ["s"]
    finally:
        ns_dir.chmod(0o700)
