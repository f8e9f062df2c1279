"""Read ``manifest.yaml`` into a :class:`Manifest`; every failure is an ``InvalidManifestError``.

Messages list each problem as ``<dotted.path>: <message>`` and name the file. They are built
from pydantic's ``loc`` and ``msg`` only: field values (which may be a password typed into the
wrong place) and pydantic's documentation URLs never appear, and YAML errors report line and
column, not the offending line's text.

Hostile input ends in a clear error too, fast and in little memory: only regular files are read
(a FIFO, ``/dev/zero`` or a directory is refused before reading), at most 1 MiB of them, and the
YAML graph is bounded before anything is built from it (:mod:`~.bounds`: an alias bomb is
refused in milliseconds). Standard merge keys (``<<``) are accepted.

A missing required field is reported with what to write (:mod:`~.required`). The environment
may be left out (ADR-0023's manifests have none): ``environment=`` (the CLI's
``--environment``), else ``$FLOE_ENVIRONMENT``, else a file name ``manifest.<env>.yaml``, else
the secret names decide (:mod:`~.environment`).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from floe_dagster_secrets.errors import InvalidManifestError
from floe_dagster_secrets.manifest.bounds import (
    MAX_DEPTH,
    MAX_MANIFEST_BYTES,
    MAX_NODES,
    BoundExceededError,
    bounded_walk,
    check_yaml_graph,
)
from floe_dagster_secrets.manifest.environment import (
    ENVIRONMENT_VARIABLE,
    EnvironmentChoice,
    environment_from_file_name,
)
from floe_dagster_secrets.manifest.naming import dotted_path
from floe_dagster_secrets.manifest.required import backend_of, missing_field_message
from floe_dagster_secrets.manifest.schema import Manifest

__all__ = ["load_manifest", "parse_manifest", "validation_problems"]

_FIX = (
    "edit {source} so each field listed matches the schema (print it with "
    "`python -m floe_dagster_secrets.manifest`); the manifest holds secret names, never values"
)
_YAML_FIX = "correct the YAML syntax of {source} at the line and column given"
_BOUND_FIX = (
    f"a manifest is a few KiB of names: keep {{source}} under {MAX_MANIFEST_BYTES} bytes, "
    f"{MAX_NODES} values and {MAX_DEPTH} levels, and use YAML aliases only to share a small "
    "mapping, never to repeat lists of lists"
)
_MSG_PREFIXES = ("Value error, ", "Assertion failed, ")


class _ManifestLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that rejects duplicate keys instead of keeping the last one silently.

    Merge keys (``<<: *base``) work as standard YAML says: the explicit keys of a mapping win
    over merged ones, and only the explicit keys are checked for duplicates.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._checked: set[int] = set()

    def flatten_mapping(self, node: yaml.MappingNode) -> None:
        # SafeConstructor flattens every mapping (and, recursively, what it merges) before
        # building it; check each one's own keys once, before merged pairs are mixed in.
        if id(node) not in self._checked:
            self._checked.add(id(node))
            self._refuse_duplicate_keys(node)
        super().flatten_mapping(node)

    def _refuse_duplicate_keys(self, node: yaml.MappingNode) -> None:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:  # unhashable key: SafeLoader reports it
                continue
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"found duplicate key '{key}'",
                    key_node.start_mark,
                )


def _load_yaml(text: str) -> Any:
    """The document, after checking its composed graph against the bounds (aliases expanded)."""
    loader = _ManifestLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        check_yaml_graph(node)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def validation_problems(error: ValidationError, data: Any = None) -> list[tuple[str, str]]:
    """``(dotted path, message)`` for each error, without input values or URLs.

    A missing field's message says what to write there; ``data`` (the raw manifest) tells which
    backend the manifest is for, so the message can name it.
    """
    problems: list[tuple[str, str]] = []
    for item in error.errors(include_url=False, include_input=False, include_context=False):
        message = item["msg"]
        if item["type"] == "missing":
            message = missing_field_message(item["loc"], backend_of(data))
        for prefix in _MSG_PREFIXES:
            message = message.removeprefix(prefix)
        problems.append((dotted_path(item["loc"]), message))
    return problems


def environment_choices(
    source: str, environment: str | None, *, read_environment_variable: bool = True
) -> list[EnvironmentChoice]:
    """Where the environment may come from besides the manifest, strongest first."""
    choices: list[EnvironmentChoice] = []
    if environment is not None:
        choices.append(EnvironmentChoice(environment, "--environment"))
    elif read_environment_variable and os.environ.get(ENVIRONMENT_VARIABLE):
        choices.append(
            EnvironmentChoice(os.environ[ENVIRONMENT_VARIABLE], f"${ENVIRONMENT_VARIABLE}")
        )
    from_name = environment_from_file_name(source)
    if from_name is not None:
        choices.append(from_name)
    return choices


def _invalid(source: str, problems: list[tuple[str, str]], fix: str = _FIX) -> InvalidManifestError:
    count = f"{len(problems)} problem" + ("s" if len(problems) != 1 else "")
    lines = "\n".join(f"  {path}: {message}" for path, message in problems)
    return InvalidManifestError(
        f"{source} is not a valid manifest, {count}:\n{lines}\n",
        fix=fix.format(source=source),
        path=source,
    )


def _yaml_problem(error: yaml.YAMLError) -> str:
    if isinstance(error, yaml.MarkedYAMLError) and error.problem_mark is not None:
        mark = error.problem_mark
        what = error.problem or "not valid YAML"
        context = f" ({error.context})" if error.context else ""
        return f"line {mark.line + 1}, column {mark.column + 1}: {what}{context}"
    return "not valid YAML"


def parse_manifest(
    text_or_mapping: str | bytes | Mapping[str, Any],
    *,
    source: str = "manifest.yaml",
    strict: bool = False,
    environment: str | None = None,
    read_environment_variable: bool = True,
) -> Manifest:
    """Validate YAML text or an already-loaded mapping as a manifest.

    Args:
        text_or_mapping: YAML document (``str``/``bytes``) or the mapping it loads to.
        source: Name used in messages and warnings (usually the file path; a file named
            ``manifest.<env>.yaml`` gives the environment when the manifest names none).
        strict: Turn naming-convention and unused-policy warnings into errors.
        environment: The environment the caller says this manifest is for (``--environment``);
            it must agree with the manifest's ``environment:``, and fills it in when absent.
        read_environment_variable: Without ``environment``, use ``$FLOE_ENVIRONMENT`` the same
            way. Off for the other environments' manifests ``validate`` reads beside this one.

    Raises:
        InvalidManifestError: Not YAML, not a mapping, or not matching the schema and rules.
    """
    data: Any = text_or_mapping
    if isinstance(data, str | bytes) and len(data) > MAX_MANIFEST_BYTES:
        raise _invalid(source, [("(top level)", _too_big(len(data)))], _BOUND_FIX)
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            raise _invalid(source, [("(top level)", "not UTF-8 text")]) from None
    if isinstance(data, str):
        try:
            data = _load_yaml(data)
        except BoundExceededError as e:
            raise _invalid(source, [("(yaml)", f"the document {e}")], _BOUND_FIX) from None
        except yaml.YAMLError as e:
            # from None: a YAML error's text quotes the offending line, which may hold a value.
            raise _invalid(source, [("(yaml)", _yaml_problem(e))], _YAML_FIX) from None
        except RecursionError:
            raise _invalid(source, [("(yaml)", "nested too deeply")], _BOUND_FIX) from None
    else:
        try:  # Python data may share or nest objects like aliases do: bound it too
            for _ in bounded_walk(data):
                pass
        except BoundExceededError as e:
            raise _invalid(source, [("(top level)", f"the data {e}")], _BOUND_FIX) from None
    if data is None:
        raise _invalid(source, [("(top level)", "the manifest is empty")])
    if not isinstance(data, Mapping):
        raise _invalid(
            source,
            [
                (
                    "(top level)",
                    "must be a mapping with environment, plugins, ingestion and secrets, not "
                    f"a {type(data).__name__}",
                )
            ],
        )
    try:
        choices = environment_choices(
            source, environment, read_environment_variable=read_environment_variable
        )
        return Manifest.model_validate(
            dict(data),
            context={"strict": strict, "source": source, "environment_choices": choices},
        )
    except ValidationError as e:
        # hide_input_in_errors keeps values out of the chained error's text too.
        raise _invalid(source, validation_problems(e, data)) from e
    except RecursionError:
        raise _invalid(source, [("(top level)", "nested too deeply")]) from None


def load_manifest(
    path: str | Path,
    *,
    strict: bool = False,
    environment: str | None = None,
    read_environment_variable: bool = True,
) -> Manifest:
    """Read and validate ``manifest.yaml``.

    Args:
        path: The manifest file.
        strict: Turn naming-convention and unused-policy warnings into errors.
        environment: See :func:`parse_manifest`.
        read_environment_variable: See :func:`parse_manifest`.

    Raises:
        InvalidManifestError: The file is missing or unreadable, or its content is invalid.
    """
    source = str(path)
    try:
        raw = _read_manifest_file(Path(path), source)
    except FileNotFoundError:
        raise InvalidManifestError(
            "manifest file not found",
            fix="create it (see ADR-0023's configuration schema) or pass the right path",
            path=source,
        ) from None
    except OSError as e:
        raise InvalidManifestError(
            f"cannot read the manifest file: {e.strerror or type(e).__name__}",
            fix="check that the path names a readable file",
            path=source,
        ) from e
    return parse_manifest(
        raw,
        source=source,
        strict=strict,
        environment=environment,
        read_environment_variable=read_environment_variable,
    )


def _too_big(size: int) -> str:
    return (
        f"the manifest is over {MAX_MANIFEST_BYTES} bytes (1 MiB), the most floe reads "
        f"({size} bytes)"
    )


def _read_manifest_file(path: Path, source: str) -> bytes:
    """At most ``MAX_MANIFEST_BYTES + 1`` bytes of a regular file, checked before any read.

    ``O_NONBLOCK`` makes opening a FIFO return at once (instead of waiting for a writer), so it
    can be refused like a device (``/dev/zero``) or a directory.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InvalidManifestError(
                f"the manifest is not a regular file (it is {_file_kind(st.st_mode)}), so floe "
                "does not read it",
                fix="pass the path of the manifest.yaml file itself",
                path=source,
            )
        if st.st_size > MAX_MANIFEST_BYTES:
            raise _invalid(source, [("(top level)", _too_big(st.st_size))], _BOUND_FIX)
        chunks: list[bytes] = []
        left = MAX_MANIFEST_BYTES + 1  # the file may grow after fstat: never read more
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 16))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _file_kind(mode: int) -> str:
    kinds = (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a named pipe"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    )
    return next((text for test, text in kinds if test(mode)), "not a regular file")
