"""Read ``manifest.yaml`` into a :class:`Manifest`; every failure is an ``InvalidManifestError``.

Messages list each problem as ``<dotted.path>: <message>`` and name the file. They are built
from pydantic's ``loc`` and ``msg`` only: field values (which may be a password typed into the
wrong place) and pydantic's documentation URLs never appear, and YAML errors report line and
column, not the offending line's text.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from floe_dagster_secrets.errors import InvalidManifestError
from floe_dagster_secrets.manifest.naming import dotted_path
from floe_dagster_secrets.manifest.schema import Manifest

__all__ = ["load_manifest", "parse_manifest", "validation_problems"]

_FIX = (
    "edit {source} so each field listed matches the schema (print it with "
    "`python -m floe_dagster_secrets.manifest`); the manifest holds secret names, never values"
)
_YAML_FIX = "correct the YAML syntax of {source} at the line and column given"
_MSG_PREFIXES = ("Value error, ", "Assertion failed, ")


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that rejects duplicate keys instead of keeping the last one silently."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:  # unhashable key: SafeLoader reports it below
                continue
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"found duplicate key '{key}'",
                    key_node.start_mark,
                )
        return super().construct_mapping(node, deep=deep)


def validation_problems(error: ValidationError) -> list[tuple[str, str]]:
    """``(dotted path, message)`` for each error, without input values or URLs."""
    problems: list[tuple[str, str]] = []
    for item in error.errors(include_url=False, include_input=False, include_context=False):
        message = item["msg"]
        for prefix in _MSG_PREFIXES:
            message = message.removeprefix(prefix)
        problems.append((dotted_path(item["loc"]), message))
    return problems


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
) -> Manifest:
    """Validate YAML text or an already-loaded mapping as a manifest.

    Args:
        text_or_mapping: YAML document (``str``/``bytes``) or the mapping it loads to.
        source: Name used in messages and warnings (usually the file path).
        strict: Turn naming-convention and unused-policy warnings into errors.

    Raises:
        InvalidManifestError: Not YAML, not a mapping, or not matching the schema and rules.
    """
    data: Any = text_or_mapping
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            raise _invalid(source, [("(top level)", "not UTF-8 text")]) from None
    if isinstance(data, str):
        try:
            data = yaml.load(data, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
        except yaml.YAMLError as e:
            # from None: a YAML error's text quotes the offending line, which may hold a value.
            raise _invalid(source, [("(yaml)", _yaml_problem(e))], _YAML_FIX) from None
        except RecursionError:
            raise _invalid(source, [("(yaml)", "nested too deeply")]) from None
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
        return Manifest.model_validate(dict(data), context={"strict": strict, "source": source})
    except ValidationError as e:
        # hide_input_in_errors keeps values out of the chained error's text too.
        raise _invalid(source, validation_problems(e)) from e
    except RecursionError:
        raise _invalid(source, [("(top level)", "nested too deeply")]) from None


def load_manifest(path: str | Path, *, strict: bool = False) -> Manifest:
    """Read and validate ``manifest.yaml``.

    Args:
        path: The manifest file.
        strict: Turn naming-convention and unused-policy warnings into errors.

    Raises:
        InvalidManifestError: The file is missing or unreadable, or its content is invalid.
    """
    source = str(path)
    try:
        raw = Path(path).read_bytes()
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
    return parse_manifest(raw, source=source, strict=strict)
