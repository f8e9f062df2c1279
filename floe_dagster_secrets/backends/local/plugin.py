"""The local secrets store: the embedded default for one machine with no cluster.

Each secret is one JSON file, ``<path>/<namespace>/<name>.json``, holding
``{"version": N, "created": iso, "updated": iso, "type": "Opaque", "data": {key: value}}``.
The store applies the rules a Kubernetes API server would (DNS-1123 names, the Secret key rule,
1 MiB per secret) so a secret that works here also works in a cluster.

Files are written the way a careful database writes its pages: a temporary file in the same
directory, ``fsync``, then ``os.replace`` — a crash leaves the old or the new version, never half of
one. Every read-modify-write runs under an ``fcntl.flock`` lock file per namespace, so two processes
rotating the same secret never lose an update and versions only go up. Directories are 0700 and
files 0600. Like ``ssh`` with a private key, the store refuses a file that group or others can
read, a file or store directory owned by another user, and a store directory that group or others
can write into (they could swap a secret file for their own).

One bad file does not break the namespace: ``list_secrets`` reports it as an entry of type
:data:`UNREADABLE_TYPE` with the problem and fix in ``extra``, and reading it raises a clear
error. A temporary file left by a write that crashed between fsync and rename (it may hold a
whole secret) is removed at the next write or listing, under the namespace lock.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from floe_dagster_secrets import audit
from floe_dagster_secrets.backends.base import SecretsPlugin
from floe_dagster_secrets.backends.local.files import (
    CorruptFileError,
    InsecureDirError,
    InsecureFileError,
    LockTimeoutError,
    Record,
    check_private_dir,
    exclusive_lock,
    fsync_dir,
    is_temporary,
    make_private_dirs,
    parse_json,
    read_private_file,
    remove_stale_temporaries,
    write_atomic,
)
from floe_dagster_secrets.backends.validation import (
    check_namespace,
    check_secret_data,
    check_secret_name,
    check_secret_size,
    is_secret_name,
    shown,
)
from floe_dagster_secrets.errors import (
    BackendUnavailableError,
    FloeSecretsError,
    InvalidSecretReferenceError,
    InvalidSecretValueError,
    SecretAccessDeniedError,
    SecretAlreadyExistsError,
    SecretNotFoundError,
)
from floe_dagster_secrets.types import SecretData, SecretMetadata, SecretValue

if TYPE_CHECKING:
    from floe_dagster_secrets.manifest.secrets_config import BackendConfig

LOCK_TIMEOUT_SECONDS = 30.0
MAX_NAME_LENGTH = 255 - len(".deleted")
"""Longest secret name the store can keep: filenames stop at 255 bytes (Kubernetes allows 253)."""
GITIGNORE = b"# floe local secrets store: never commit it\n*\n"
UNREADABLE_TYPE = "<unreadable>"
"""``type`` of a listed secret whose file cannot be read; ``extra`` says why and the fix."""


class LocalSecretsPlugin(SecretsPlugin):
    """Secrets kept in permission-protected JSON files under one directory.

    Meant for a laptop or a single VM running Dagster without Kubernetes, and for tests. It is no
    vault: values are stored in clear text protected by file permissions only, so keep the store
    on an encrypted disk and out of shared backups. A ``.gitignore`` holding ``*`` is written into
    each directory the store creates (the root if it did not exist, each namespace directory), so
    a store inside a repository is never committed and an existing directory given as the store
    path (``--store-path .``) never gets an ignore file that hides the user's own files.

    Example:
        >>> plugin = LocalSecretsPlugin(path="/tmp/floe-doc/secrets")  # doctest: +SKIP
        >>> plugin.create_secret("pg", "floe-jobs", {"PASSWORD": "..."})  # doctest: +SKIP

    Args:
        path: Store root. A relative path is resolved against the working directory once, here.
    """

    name: ClassVar[str] = "local"
    version: ClassVar[str] = "1.0.0"
    label: ClassVar[str] = "local store"
    config_model: ClassVar[type[BackendConfig] | str | None] = (
        "floe_dagster_secrets.manifest.secrets_config:LocalSecretsConfig"
    )
    resource: ClassVar[str | None] = "floe_dagster_secrets.resources.local:LocalSecretsResource"
    version_source: ClassVar[str] = "the local store's version counter"
    no_restart_reason: ClassVar[str] = (
        "the local store is files on this machine: no Kubernetes workload reads it"
    )

    def __init__(self, *, path: str | Path = ".floe/secrets") -> None:
        self.root = Path(path).expanduser().absolute()

    # -- reading ---------------------------------------------------------------------------

    def get_secret(self, name: str, namespace: str) -> SecretData:
        """Every key of a secret, each value wrapped (and so masked) as a SecretValue."""
        record = self._require(name, namespace)
        audit.record_version(record.version)  # the run-log event needs no second read
        return {key: SecretValue(value) for key, value in record.data.items()}

    def describe_secret(self, name: str, namespace: str) -> SecretMetadata:
        """Keys, version and times of one secret; its values are never wrapped or returned."""
        return self._metadata(name, namespace, self._require(name, namespace))

    def list_secrets(self, namespace: str) -> list[SecretMetadata]:
        """Metadata of every secret in ``namespace``, sorted by name; an absent store is empty.

        A file that cannot be read (corrupt, a symlink, someone else's) is listed with type
        :data:`UNREADABLE_TYPE`, no keys, and ``extra["problem"]``/``extra["fix"]``; the other
        secrets are listed as usual.
        """
        check_namespace(namespace, backend=self.name)
        ns_dir = self.root / namespace
        if not self._check_dirs(namespace):
            return []
        try:
            entries = sorted(os.listdir(ns_dir))
        except FileNotFoundError:
            return []
        except OSError as e:
            raise self._os_error(e, "list", ns_dir, namespace=namespace) from e
        if any(is_temporary(entry) for entry in entries):
            # _locked removes what a crashed write left; a read-only store still lists.
            with (
                contextlib.suppress(BackendUnavailableError, SecretAccessDeniedError),
                self._locked(namespace),
            ):
                pass
        found = []
        for entry in entries:
            name = entry.removesuffix(".json")
            if name == entry or not is_secret_name(name):
                continue  # lock file, tombstones, temporary files, foreign files
            try:
                record = self._read(name, namespace)
            except FloeSecretsError as e:
                found.append(self._unreadable(name, namespace, e))
                continue
            if record is not None:  # None: deleted between listdir and read
                found.append(self._metadata(name, namespace, record))
        return found

    def secret_versions(self, namespace: str) -> dict[str, str]:
        """Name → version of the secrets that can be read (an unreadable one has no version)."""
        return {
            meta.name: meta.version
            for meta in self.list_secrets(namespace)
            if meta.type != UNREADABLE_TYPE
        }

    # -- writing ---------------------------------------------------------------------------

    def create_secret(self, name: str, namespace: str, data: Mapping[str, str]) -> SecretMetadata:
        """Create a secret at version 1, or one past a deleted secret of the same name."""
        clean = self._validate(name, namespace, data)
        with self._locked(namespace) as ns_dir:
            if self._read(name, namespace) is not None:
                raise SecretAlreadyExistsError(
                    f"Secret '{name}' already exists",
                    fix=f"change it with 'floe secrets rotate {name}', or delete it first",
                    **self._where(name, namespace),
                )
            now = datetime.now(UTC)
            version = self._tombstone_version(ns_dir, name) + 1
            record = Record(version, now, now, "Opaque", clean)
            self._write(ns_dir, f"{name}.json", record.to_bytes(), name=name)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(ns_dir / f"{name}.deleted")
        return self._metadata(name, namespace, record)

    def update_secret(
        self, name: str, namespace: str, data: Mapping[str, str], *, merge: bool = False
    ) -> SecretMetadata:
        """Write the next version: ``data`` becomes the contents, or is merged into them."""
        clean = self._validate(name, namespace, data)
        with self._locked(namespace) as ns_dir:
            current = self._require(name, namespace)
            contents = dict(sorted({**current.data, **clean}.items())) if merge else clean
            check_secret_size(name, namespace, contents, backend=self.name)
            now = datetime.now(UTC)
            record = Record(current.version + 1, current.created, now, current.type, contents)
            self._write(ns_dir, f"{name}.json", record.to_bytes(), name=name)
        return self._metadata(name, namespace, record)

    def delete_secret(self, name: str, namespace: str) -> None:
        """Delete a secret, remembering its last version so a re-created one never reuses it.

        Versions are change markers for the rotation sensor: a re-created secret starting again
        at version 1 could look unchanged to a cursor that last saw version 1.
        """
        self._check(name, namespace)
        with self._locked(namespace) as ns_dir:
            try:
                record = self._read(name, namespace)
                last = record.version if record is not None else None
            except InvalidSecretValueError:
                last = 0  # a corrupted file can still be deleted: deleting it is the fix
            if last is None:
                raise self._not_found(name, namespace)
            tombstone = {"version": max(last, self._tombstone_version(ns_dir, name))}
            self._write(ns_dir, f"{name}.deleted", json.dumps(tombstone).encode(), name=name)
            path = ns_dir / f"{name}.json"
            try:
                os.unlink(path)
            except OSError as e:
                raise self._os_error(e, "delete", path, name=name, namespace=namespace) from e
            fsync_dir(ns_dir)

    # -- helpers ---------------------------------------------------------------------------

    def _check(self, name: str, namespace: str) -> None:
        check_namespace(namespace, backend=self.name)
        check_secret_name(name, namespace, backend=self.name)
        if len(name) > MAX_NAME_LENGTH:
            raise InvalidSecretReferenceError(
                f"Secret name is {len(name)} characters; the local store keeps names of at most "
                f"{MAX_NAME_LENGTH} (a filename limit)",
                fix=f"use a name of at most {MAX_NAME_LENGTH} characters",
                backend=self.name,
                secret=shown(name),
                namespace=namespace,
            )

    def _validate(self, name: str, namespace: str, data: Mapping[str, str]) -> dict[str, str]:
        """Check everything before the disk is touched: a bad request writes nothing."""
        self._check(name, namespace)
        return check_secret_data(name, namespace, data, backend=self.name)

    def _path(self, name: str, namespace: str) -> Path:
        return self.root / namespace / f"{name}.json"

    def _where(self, name: str, namespace: str) -> dict[str, Any]:
        return {
            "backend": self.name,
            "secret": name,
            "namespace": namespace,
            "path": str(self._path(name, namespace)),
        }

    def _require(self, name: str, namespace: str) -> Record:
        self._check(name, namespace)
        self._check_dirs(namespace)
        record = self._read(name, namespace)
        if record is None:
            raise self._not_found(name, namespace)
        return record

    def _not_found(self, name: str, namespace: str) -> SecretNotFoundError:
        return SecretNotFoundError(
            f"Secret '{name}' does not exist",
            fix=f"create it with 'floe secrets create {name} --namespace {namespace}', or check "
            f"that the store path is {self.root}",
            **self._where(name, namespace),
        )

    def _read(self, name: str, namespace: str) -> Record | None:
        """The secret's record, None if there is none; translates every file problem."""
        path = self._path(name, namespace)
        try:
            raw = read_private_file(path)
            return None if raw is None else Record.from_bytes(raw)
        except InsecureFileError as e:
            if e.owner is not None:
                fix = (
                    f"if the file is yours, run 'chown {os.geteuid()} {path}'; if not, delete it "
                    "and create the secret again (someone else may have put their value there)"
                )
            elif e.mode is not None:
                fix = f"run 'chmod 600 {path}' and consider rotating the secret"
            else:
                fix = f"replace it with a regular file {path} with mode 600"
            raise SecretAccessDeniedError(
                f"Secret file refused: {e.why}", fix=fix, **self._where(name, namespace)
            ) from e
        except CorruptFileError as e:
            raise InvalidSecretValueError(
                f"Secret file is corrupted: {e.why}",
                fix=f"restore {path} from a backup, or delete it and run "
                f"'floe secrets create {name} --namespace {namespace}' again",
                **self._where(name, namespace),
            ) from e
        except OSError as e:
            raise self._os_error(e, "read", path, name=name, namespace=namespace) from e

    def _check_dirs(self, namespace: str) -> bool:
        """Refuse store directories another user could change; whether the namespace exists."""
        for directory in (self.root, self.root / namespace):
            try:
                if not check_private_dir(directory):
                    return False
            except InsecureDirError as e:
                if e.owner is not None:
                    fix = (
                        f"if {directory} is yours, run 'chown {os.geteuid()} {directory}'; if "
                        "not, use a store of your own (--store-path) and recreate its secrets"
                    )
                elif e.mode is not None:
                    fix = (
                        f"run 'chmod 700 {directory}', then check that every file in it is yours "
                        "and rotate any secret you did not write"
                    )
                else:
                    fix = f"make {directory} a directory, or pass another --store-path"
                raise SecretAccessDeniedError(
                    f"Store directory refused: {e.why}",
                    fix=fix,
                    backend=self.name,
                    namespace=namespace,
                    path=str(directory),
                ) from e
            except OSError as e:
                raise self._os_error(e, "read", directory, namespace=namespace) from e
        return True

    def _unreadable(self, name: str, namespace: str, error: FloeSecretsError) -> SecretMetadata:
        return SecretMetadata(
            name=name,
            namespace=namespace,
            backend=self.name,
            keys=(),
            version="",
            type=UNREADABLE_TYPE,
            managed_by_floe=True,
            keys_known=False,
            extra={
                "path": str(self._path(name, namespace)),
                "problem": error.problem,
                "fix": error.fix,
            },
        )

    def _os_error(
        self,
        e: OSError,
        action: str,
        path: Path,
        *,
        name: str | None = None,
        namespace: str | None = None,
    ) -> FloeSecretsError:
        reason = errno.errorcode.get(e.errno or 0, type(e).__name__)
        where: dict[str, Any] = {
            "backend": self.name,
            "secret": name,
            "namespace": namespace,
            "path": str(path),
        }
        if isinstance(e, PermissionError):
            return SecretAccessDeniedError(
                f"Permission denied when trying to {action} in the local store ({reason})",
                fix=f"run floe as the user who owns {self.root}",
                **where,
            )
        return BackendUnavailableError(
            f"Could not {action} in the local store ({reason})",
            fix=f"check that {self.root} is on a writable disk with free space",
            **where,
        )

    def _metadata(self, name: str, namespace: str, record: Record) -> SecretMetadata:
        return SecretMetadata(
            name=name,
            namespace=namespace,
            backend=self.name,
            keys=tuple(sorted(record.data)),
            version=str(record.version),
            type=record.type,
            created=record.created,
            updated=record.updated,
            managed_by_floe=True,
            extra={"path": str(self._path(name, namespace))},
        )

    def _tombstone_version(self, ns_dir: Path, name: str) -> int:
        """The last version of a deleted secret; 0 when there is no usable tombstone."""
        try:
            raw = read_private_file(ns_dir / f"{name}.deleted")
            version = parse_json(raw)["version"] if raw is not None else 0
        except (OSError, InsecureFileError, CorruptFileError, KeyError, TypeError):
            return 0
        return version if isinstance(version, int) and not isinstance(version, bool) else 0

    def _write(self, directory: Path, filename: str, payload: bytes, *, name: str) -> None:
        try:
            write_atomic(directory, filename, payload)
        except OSError as e:
            path = directory / filename
            raise self._os_error(e, "write", path, name=name, namespace=directory.name) from e

    @contextlib.contextmanager
    def _locked(self, namespace: str) -> Iterator[Path]:
        """Create the store if needed, then hold the namespace lock for a read-modify-write."""
        ns_dir = self.root / namespace
        try:
            created = make_private_dirs(ns_dir)
        except OSError as e:
            raise self._os_error(e, "create", ns_dir, namespace=namespace) from e
        self._check_dirs(namespace)
        try:
            for directory in (self.root, ns_dir):  # only directories the store itself made
                if directory in created and not (directory / ".gitignore").exists():
                    write_atomic(directory, ".gitignore", GITIGNORE)
        except OSError as e:
            raise self._os_error(e, "create", ns_dir, namespace=namespace) from e
        lock_path = ns_dir / ".lock"
        held = contextlib.ExitStack()
        try:
            held.enter_context(exclusive_lock(lock_path, timeout=LOCK_TIMEOUT_SECONDS))
        except LockTimeoutError as e:
            raise BackendUnavailableError(
                f"Another process has held the store lock for over {LOCK_TIMEOUT_SECONDS:.0f} s",
                fix="wait for the other floe process to finish, or stop it if it hangs",
                backend=self.name,
                namespace=namespace,
                path=str(lock_path),
            ) from e
        except OSError as e:
            raise self._os_error(e, "lock", lock_path, namespace=namespace) from e
        with held:
            try:
                remove_stale_temporaries(ns_dir)
            except OSError as e:
                raise self._os_error(e, "clean up", ns_dir, namespace=namespace) from e
            yield ns_dir
