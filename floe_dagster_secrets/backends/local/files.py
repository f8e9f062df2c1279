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

from floe_dagster_secrets.backends.validation import MAX_SECRET_BYTES, is_secret_key

FILE_MODE = 0o600
DIR_MODE = 0o700
MAX_RECORD_BYTES = 8 * MAX_SECRET_BYTES
"""Largest secret file read: 1 MiB of values, JSON-escaped (up to 6 bytes a character), fits."""
MAX_VERSION_DIGITS = 18
"""Versions are counters: 18 digits stay below 2**63 (what a Kubernetes resourceVersion holds)."""
TEMPORARY_PREFIX = ".floe-"
TEMPORARY_SUFFIX = ".tmp"


class CorruptFileError(Exception):
    """The file is not a record this store wrote; ``why`` never quotes its contents."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


class InsecureFileError(Exception):
    """The file is a symlink, not ours, or group/others may read or write it.

    ``mode`` is set when ``chmod`` fixes it, ``owner`` when the owner is someone else.
    """

    def __init__(self, why: str, *, mode: int | None = None, owner: int | None = None) -> None:
        super().__init__(why)
        self.why = why
        self.mode = mode
        self.owner = owner


class InsecureDirError(InsecureFileError):
    """A store directory that another user could write into, or that is not ours."""


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
        document = parse_json(raw)
        if not isinstance(document, dict):
            raise CorruptFileError("it is not a JSON object")
        version, data = document.get("version"), document.get("data")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise CorruptFileError("'version' is not a positive integer")
        if not isinstance(data, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in data.items()
        ):
            raise CorruptFileError("'data' is not an object of strings")
        bad_keys = sum(1 for key in data if not is_secret_key(key))
        if bad_keys:  # not shown: a hand-edited file may hold anything where a key belongs
            raise CorruptFileError(
                f"{bad_keys} key name(s) in 'data' break the Kubernetes Secret key rule "
                "(letters, digits, '-', '_' and '.')"
            )
        kind = document.get("type", "Opaque")
        if not isinstance(kind, str) or not kind.isprintable() or len(kind) > 253:
            raise CorruptFileError("'type' is not a short line of text")
        try:
            created = _utc(datetime.fromisoformat(document["created"]))
            updated = _utc(datetime.fromisoformat(document["updated"]))
        except (KeyError, TypeError, ValueError):
            raise CorruptFileError("'created' or 'updated' is not an ISO 8601 time") from None
        return cls(version, created, updated, kind, data)


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_VERSION_DIGITS:
        raise CorruptFileError(f"it holds a number of more than {MAX_VERSION_DIGITS} digits")
    return int(text)


def parse_json(raw: bytes) -> Any:
    """Parse a store file; raises CorruptFileError saying what is wrong, never what is there.

    Numbers are limited to :data:`MAX_VERSION_DIGITS` digits (Python would refuse 4300 with a
    ValueError, and nothing here counts that high) and nesting to what the parser can recurse.
    """
    try:
        return json.loads(raw.decode("utf-8"), parse_int=_parse_int)
    except UnicodeDecodeError:
        raise CorruptFileError("it is not UTF-8 text") from None
    except json.JSONDecodeError as e:
        # Only the position: the decoder's message and document could carry file contents.
        raise CorruptFileError(f"invalid JSON at line {e.lineno} column {e.colno}") from None
    except RecursionError:
        raise CorruptFileError("it nests JSON too deeply") from None
    except ValueError:  # a float or number the parser refuses: its message may quote it
        raise CorruptFileError("it holds a number JSON cannot represent") from None


def read_private_file(path: Path) -> bytes | None:
    """The bytes of ``path``, or None if it does not exist.

    Refuses symlinks (``O_NOFOLLOW``), files owned by another user and files that group or
    others can access, checked on the open descriptor so the file cannot be swapped between the
    check and the read. Reads at most :data:`MAX_RECORD_BYTES`.

    Raises:
        InsecureFileError: Symlink, not a regular file, not ours, or open to group/others.
        CorruptFileError: Larger than any file the store writes.
        OSError: Any other failure to open or read.
    """
    try:
        # O_NONBLOCK: a FIFO planted under a secret's name is refused below instead of hanging.
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
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
        if st.st_uid != os.geteuid():
            raise InsecureFileError(
                f"it is owned by uid {st.st_uid}, not by you (uid {os.geteuid()})",
                owner=st.st_uid,
            )
        mode = stat.S_IMODE(st.st_mode)
        if mode & 0o077:
            raise InsecureFileError(f"it is open to group or others (mode {mode:o})", mode=mode)
        raw = f.read(MAX_RECORD_BYTES + 1)
        if len(raw) > MAX_RECORD_BYTES:
            raise CorruptFileError(
                f"it is over {MAX_RECORD_BYTES} bytes, more than any secret file the store writes"
            )
        return raw


def check_private_dir(directory: Path) -> bool:
    """Whether ``directory`` exists; refuses it, like ssh, if another user could change it.

    A directory that group or others can write into lets them replace a secret file with one of
    their own; one owned by another user can be changed by that user whatever its mode.

    Raises:
        InsecureDirError: Not a directory, not ours, or writable by group or others.
        OSError: Any other failure to look at it.
    """
    try:
        st = os.stat(directory)
    except FileNotFoundError:
        return False
    if not stat.S_ISDIR(st.st_mode):
        raise InsecureDirError("it is not a directory")
    if st.st_uid != os.geteuid():
        raise InsecureDirError(
            f"it is owned by uid {st.st_uid}, not by you (uid {os.geteuid()})", owner=st.st_uid
        )
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o022:
        raise InsecureDirError(
            f"group or others can write into it (mode {mode:o}), so they could replace a "
            "secret file",
            mode=mode,
        )
    return True


def is_temporary(filename: str) -> bool:
    """Whether ``filename`` is one of :func:`write_atomic`'s temporary files."""
    return filename.startswith(TEMPORARY_PREFIX) and filename.endswith(TEMPORARY_SUFFIX)


def remove_stale_temporaries(directory: Path) -> list[str]:
    """Delete the temporary files a crashed write left (each may hold a whole secret).

    Call it only while holding the directory's lock: every write into it holds that lock, so any
    temporary file present then belongs to a writer that died between fsync and rename. Only
    regular files of ours are removed (``unlink`` never follows a symlink).
    """
    removed = []
    for entry in os.scandir(directory):
        if not is_temporary(entry.name):
            continue
        with contextlib.suppress(OSError):
            st = entry.stat(follow_symlinks=False)
            if (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)) and st.st_uid == os.geteuid():
                os.unlink(entry.path)
                removed.append(entry.name)
    if removed:
        fsync_dir(directory)
    return removed


def write_atomic(directory: Path, filename: str, payload: bytes) -> None:
    """Replace ``directory/filename`` with ``payload`` so readers see all of it or none of it.

    A 0600 temporary file in the same directory is written and fsynced, renamed over the target
    with ``os.replace`` and the directory is fsynced. On any failure the temporary file is removed
    and the previous file is untouched.
    """
    # A short name of its own: a temporary name built from ``filename`` could pass NAME_MAX.
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=TEMPORARY_PREFIX, suffix=TEMPORARY_SUFFIX)
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
