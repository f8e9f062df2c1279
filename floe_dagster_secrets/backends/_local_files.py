"""File mechanics of the local store: records, safe reads, atomic writes and the namespace lock.

Kept apart from the plugin so the plugin reads as the secrets logic and this module as the
filesystem discipline. Failures here are small internal exceptions without context; the plugin
translates them into :mod:`floe_dagster_secrets.errors` with the secret, namespace and fix.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import stat
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

FILE_MODE = 0o600
DIR_MODE = 0o700


class CorruptFileError(Exception):
    """The file is not a record this store wrote; ``why`` never quotes its contents."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


class InsecureFileError(Exception):
    """The file is a symlink, or group/others may read or write it."""

    def __init__(self, why: str, *, mode: int | None = None) -> None:
        super().__init__(why)
        self.why = why
        self.mode = mode


class LockTimeoutError(Exception):
    """Another process held the namespace lock past the timeout."""


@dataclass(frozen=True)
class Record:
    """One secret file's contents."""

    version: int
    created: datetime
    updated: datetime
    type: str
    data: dict[str, str]

    def to_bytes(self) -> bytes:
        """Serialise as pretty, key-sorted UTF-8 JSON."""
        document = {
            "version": self.version,
            "created": self.created.isoformat(),
            "updated": self.updated.isoformat(),
            "type": self.type,
            "data": self.data,
        }
        # ensure_ascii=False + strict UTF-8: an unpaired surrogate fails loudly instead of being
        # written out as a "\udcxx" escape that other tools could not read back.
        return json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True).encode("utf-8")

    @classmethod
    def from_bytes(cls, raw: bytes) -> Record:
        """Parse a file's bytes; raises CorruptFileError saying what is wrong, not what is there."""
        try:
            document = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise CorruptFileError("it is not UTF-8 text") from None
        except json.JSONDecodeError as e:
            # Only the position: the decoder's message and document could carry file contents.
            raise CorruptFileError(f"invalid JSON at line {e.lineno} column {e.colno}") from None
        if not isinstance(document, dict):
            raise CorruptFileError("it is not a JSON object")
        version, data = document.get("version"), document.get("data")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise CorruptFileError("'version' is not a positive integer")
        if not isinstance(data, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in data.items()
        ):
            raise CorruptFileError("'data' is not an object of strings")
        try:
            created = _utc(datetime.fromisoformat(document["created"]))
            updated = _utc(datetime.fromisoformat(document["updated"]))
        except (KeyError, TypeError, ValueError):
            raise CorruptFileError("'created' or 'updated' is not an ISO 8601 time") from None
        return cls(version, created, updated, str(document.get("type", "Opaque")), data)


def read_private_file(path: Path) -> bytes | None:
    """The bytes of ``path``, or None if it does not exist.

    Refuses symlinks (``O_NOFOLLOW``) and files that group or others can access, checked on the
    open descriptor so the file cannot be swapped between the check and the read.

    Raises:
        InsecureFileError: Symlink, not a regular file, or mode open to group/others.
        OSError: Any other failure to open or read.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise InsecureFileError("it is a symbolic link, which the store does not follow") from e
        raise
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise InsecureFileError("it is not a regular file")
        mode = stat.S_IMODE(st.st_mode)
        if mode & 0o077:
            raise InsecureFileError(f"it is open to group or others (mode {mode:o})", mode=mode)
        return f.read()


def write_atomic(directory: Path, filename: str, payload: bytes) -> None:
    """Replace ``directory/filename`` with ``payload`` so readers see all of it or none of it.

    A 0600 temporary file in the same directory is written and fsynced, renamed over the target
    with ``os.replace`` and the directory is fsynced. On any failure the temporary file is removed
    and the previous file is untouched.
    """
    # A short name of its own: a temporary name built from ``filename`` could pass NAME_MAX.
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".floe-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), FILE_MODE)
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, directory / filename)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(directory)


def fsync_dir(directory: Path) -> None:
    """Make a rename or unlink durable by fsyncing the directory (best effort)."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def make_private_dirs(directory: Path) -> list[Path]:
    """Create ``directory`` and missing parents with mode 0700; return those created."""
    created = []
    for path in (*reversed(directory.parents), directory):
        if path.exists():
            continue
        with contextlib.suppress(FileExistsError):
            path.mkdir(mode=DIR_MODE)
            os.chmod(path, DIR_MODE)  # the umask may have taken bits away
            created.append(path)
    return created


@contextlib.contextmanager
def exclusive_lock(lock_path: Path, *, timeout: float) -> Iterator[None]:
    """Hold ``flock(LOCK_EX)`` on ``lock_path``: one writer at a time across processes.

    Raises:
        LockTimeoutError: The lock was not free within ``timeout`` seconds.
    """
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, FILE_MODE)
    try:
        _acquire(fd, lock_path, timeout)
        yield
    finally:
        os.close(fd)  # closing the last descriptor of the file releases the lock


def _acquire(fd: int, lock_path: Path, timeout: float) -> None:
    """Take the lock, waiting in a *blocking* ``flock`` so the kernel wakes us on release.

    Polling ``LOCK_NB`` starves: a process rotating in a loop re-takes the lock microseconds
    after releasing it, before a poller wakes (measured: a poller got none of 50 turns; a blocked
    waiter got every other one). A blocking call cannot time out, so it runs in a helper thread on
    a duplicate descriptor (``flock`` locks belong to the shared open file, so the lock it takes
    is ours); on timeout the helper is told to release the lock if it ever gets it.
    """
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return
    except BlockingIOError:
        pass
    waiter_fd = os.dup(fd)
    decided = threading.Lock()
    acquired = threading.Event()
    outcome: dict[str, Any] = {"cancelled": False, "error": None}

    def wait() -> None:
        try:
            fcntl.flock(waiter_fd, fcntl.LOCK_EX)
        except OSError as e:
            outcome["error"] = e
        with decided:
            if outcome["cancelled"]:  # the caller gave up: let go of what it no longer wants
                if outcome["error"] is None:
                    fcntl.flock(waiter_fd, fcntl.LOCK_UN)
                os.close(waiter_fd)
                return
            acquired.set()

    threading.Thread(target=wait, name=f"floe-lock {lock_path.parent.name}", daemon=True).start()
    acquired.wait(timeout)
    with decided:
        if not acquired.is_set():
            outcome["cancelled"] = True
            raise LockTimeoutError(str(lock_path))
    os.close(waiter_fd)  # ``fd`` still refers to the open file, so the lock stays held
    if outcome["error"] is not None:
        raise outcome["error"]


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
