"""Where secret values come from on the command line: dotenv text, literals and generators.

Parsing errors name the source and line number, never the line: the line holds a value (a token
pasted without ``KEY=`` in front is refused, not stored as a key name). Input is read with a
size limit, so a huge pipe or file is refused after a few MiB instead of being read whole.
Every value is registered with the masker as soon as it is read.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import BinaryIO

import click

from floe_dagster_secrets.backends.validation import MAX_SECRET_BYTES, is_secret_key
from floe_dagster_secrets.errors import InvalidSecretValueError
from floe_dagster_secrets.masking import get_masker

DEFAULT_GENERATED_LENGTH = 32
MIN_GENERATED_LENGTH = 8
MAX_GENERATED_LENGTH = 4096

MAX_INPUT_BYTES = 2 * MAX_SECRET_BYTES + 64 * 1024
"""Most bytes read from stdin or an env file: room for 1 MiB of values, quoted and escaped."""

_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}
_SHELL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
_PLAIN_VALUE = re.compile(r"^[A-Za-z0-9_.,:/@%+-][A-Za-z0-9_.,:/@%+=-]*\Z")
"""Values every reader takes literally unquoted: no blanks, quotes, ``$``, globs, ``~`` or ``#``."""
_READ_CHUNK = 64 * 1024


def _bad_line(source: str, lineno: int, why: str) -> InvalidSecretValueError:
    return InvalidSecretValueError(
        f"Line {lineno} of {source} {why}",
        fix="write one KEY=VALUE per line; quote values with spaces or newlines in double "
        'quotes, e.g. KEY="two words"',
        path=source,
    )


def _closing_quote(text: str, quote: str) -> int:
    """Index of the quote that ends ``text`` (which follows an opening quote), or -1."""
    i = 0
    while i < len(text):
        if quote == '"' and text[i] == "\\":
            i += 2
            continue
        if text[i] == quote:
            return i
        i += 1
    return -1


def _unescape(body: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(0)), body, flags=re.DOTALL)


def parse_dotenv(text: str, *, source: str) -> dict[str, str]:
    r"""Parse ``KEY=VALUE`` lines (the ``.env`` format) into a dict.

    Blank lines and ``#`` comment lines are skipped; ``export KEY=VALUE`` is accepted. Unquoted
    values run to the end of the line (trailing spaces dropped; ``#`` is part of the value, as
    passwords contain it). ``'single'`` quotes are literal; ``"double"`` quotes understand
    ``\n \r \t \" \\`` and may span lines.

    Raises:
        InvalidSecretValueError: A line is not ``KEY=VALUE``, a quote is not closed, or a key
            appears twice; the message gives the line number, never its content.
    """
    # Not splitlines(): it also breaks at \x1c-\x1e, \x85 and \u2028, which may sit in a value.
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    found: dict[str, str] = {}
    first_line: dict[str, int] = {}
    i = 0
    while i < len(lines):
        lineno = i + 1
        line = lines[i].lstrip()
        i += 1
        if not line.strip() or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, sep, rest = line.partition("=")
        key = key.strip()
        if not sep or not key or any(c.isspace() for c in key):
            raise _bad_line(source, lineno, "is not KEY=VALUE")
        if not is_secret_key(key):
            raise _bad_line(
                source,
                lineno,
                "does not start with a key name (letters, digits, '-', '_' and '.' before the "
                "'='); it is not shown, in case it is a value",
            )
        rest = rest.lstrip()
        if rest[:1] == "=" or not rest:
            # `tokenAB==` or `tokenABC=`: a bare base64 token, not KEY=VALUE. Storing it would
            # turn the token into a key name, which list, status and the audit log show.
            raise _bad_line(
                source,
                lineno,
                "looks like a bare token ending in '=', not KEY=VALUE (it is not shown); quote "
                'a value that is empty or starts with \'=\': KEY="" or KEY="=..."',
            )
        if rest[:1] in ('"', "'"):
            quote, body = rest[0], rest[1:]
            end = _closing_quote(body, quote)
            while end < 0 and i < len(lines):
                body += "\n" + lines[i]
                i += 1
                end = _closing_quote(body, quote)
            if end < 0:
                raise _bad_line(source, lineno, f"opens a {quote} quote that is never closed")
            after = body[end + 1 :].strip()
            if after and not after.startswith("#"):
                raise _bad_line(source, lineno, "has text after the closing quote")
            value = _unescape(body[:end]) if quote == '"' else body[:end]
        else:
            value = rest.rstrip()
        if key in found:
            raise _bad_line(
                source, lineno, f"sets {key} again (first set on line {first_line[key]})"
            )
        found[key] = value
        first_line[key] = lineno
    register(found.values())
    return found


def _quoted(key: str, value: str) -> str:
    r"""``value`` quoted so that sh, python-dotenv and :func:`parse_dotenv` read it back as is.

    Plain values (letters, digits, ``_.,:/@%+-=``) as they are. Single quotes where the value
    has no ``'`` or ``\`` (the shell expands nothing inside them, and python-dotenv neither
    interpolates nor unescapes them). Otherwise double quotes with ``\`` and ``"`` escaped,
    which all three undo alike, as long as there is no ``$`` or backquote (the shell would
    expand them). Newlines are kept inside the quotes.

    Raises:
        InvalidSecretValueError: No quoting works for all three (``'`` or ``\`` together with
            ``$`` or a backquote; ``${``, which python-dotenv expands even in single quotes; a
            carriage return, which python-dotenv turns into a newline; a NUL, which no shell
            variable holds).
    """
    problem = None
    if _PLAIN_VALUE.match(value):
        return value
    if "\r" in value or "\0" in value:
        problem = "a carriage return or NUL character"
    elif "${" in value:
        problem = "'${', which python-dotenv expands whatever the quotes"
    elif "'" not in value and "\\" not in value:
        return f"'{value}'"
    elif "$" not in value and "`" not in value:
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    else:
        problem = "a quote or backslash together with '$' or '`'"
    raise InvalidSecretValueError(
        f"The value of key '{key}' cannot be printed as a KEY=VALUE line that a shell and "
        f"python-dotenv both read back exactly (it holds {problem}); nothing was printed",
        fix=f"print that value alone with '--key {key}', or all values with '--output json'",
    )


def format_dotenv(data: Mapping[str, str]) -> str:
    """``KEY='value'`` lines that are safe to source: the inverse of :func:`parse_dotenv`.

    ``set -a; . file`` in a POSIX shell, python-dotenv and ``--from-env-file`` each read every
    value back byte for byte, and nothing in a value is ever run (``$(id)`` stays text).

    Raises:
        InvalidSecretValueError: A key is not a shell variable name or a value cannot be quoted
            for all readers (see :func:`_quoted`); raised before any line is returned.
    """
    lines = []
    for key, value in data.items():
        if not _SHELL_NAME.match(key):
            raise InvalidSecretValueError(
                f"Key '{key}' is not a shell variable name, so KEY=VALUE lines holding it "
                "could not be sourced (set -a; . file); nothing was printed",
                fix=f"print that value alone with '--key {key}', or all values with "
                "'--output json'",
            )
        lines.append(f"{key}={_quoted(key, value)}")
    return "\n".join(lines)


def read_limited(stream: BinaryIO, *, source: str) -> bytes:
    """Read ``stream`` to its end, refusing it once it passes :data:`MAX_INPUT_BYTES`.

    A secret holds at most 1 MiB of values, so a 100 MB pipe is refused after about 2 MiB,
    without reading (or holding) the rest.

    Raises:
        InvalidSecretValueError: The input is larger than any secret could be.
    """
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = stream.read(min(_READ_CHUNK, MAX_INPUT_BYTES + 1 - size))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_INPUT_BYTES:
            raise InvalidSecretValueError(
                f"{source} holds more than {MAX_INPUT_BYTES} bytes, more than a secret can hold "
                f"(1 MiB, {MAX_SECRET_BYTES} bytes, of values: the limit Kubernetes enforces); "
                "floe stopped reading it and wrote nothing",
                fix="keep large files out of secrets: store them elsewhere and keep only the "
                "credential that unlocks them here",
                path=source,
            )


def read_stdin_values(stream: BinaryIO) -> dict[str, str]:
    """Parse dotenv lines from ``stream`` (stdin), reading at most :data:`MAX_INPUT_BYTES`."""
    raw = read_limited(stream, source="stdin")
    return parse_dotenv(raw.decode("utf-8", "surrogateescape"), source="stdin")


def read_env_file(path: Path) -> dict[str, str]:
    """Parse a dotenv file (or a pipe, e.g. ``<(cmd)``), reading at most MAX_INPUT_BYTES.

    Undecodable bytes are kept so the backend can name the bad key.
    """
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as stream:
        raw = read_limited(stream, source=str(path))
    return parse_dotenv(raw.decode("utf-8", "surrogateescape"), source=str(path))


def parse_literals(literals: Sequence[str]) -> dict[str, str]:
    """``KEY=VALUE`` arguments; a malformed one is a usage error that does not repeat it."""
    found: dict[str, str] = {}
    for position, literal in enumerate(literals, start=1):
        key, sep, value = literal.partition("=")
        if not sep or not key:
            raise click.UsageError(
                f"--from-literal number {position} is not KEY=VALUE (it is not shown here in "
                "case it holds a value)"
            )
        if not is_secret_key(key):
            raise click.UsageError(
                f"--from-literal number {position} does not start with a key name (letters, "
                "digits, '-', '_' and '.' before the '='; it is not shown here in case it holds "
                "a value)"
            )
        if not value or value.startswith("="):
            # `tokenAB==` or `tokenABC=`: a bare base64 token, not KEY=VALUE. Storing it would
            # turn the token into a key name, which list, status and the audit log show.
            raise click.UsageError(
                f"--from-literal number {position} looks like a bare token ending in '=', not "
                "KEY=VALUE (it is not shown); for a value that is empty or starts with '=', use "
                '--from-env-file with KEY="" or KEY="=..."'
            )
        if key in found:
            raise click.UsageError(f"--from-literal sets {key} twice")
        found[key] = value
    register(found.values())
    return found


def parse_generate_spec(spec: str) -> tuple[str, int]:
    """``KEY`` or ``KEY:LENGTH`` → (key, length)."""
    key, sep, length_text = spec.partition(":")
    if not key:
        raise click.UsageError(f"--generate '{spec}' has no key; write KEY or KEY:LENGTH")
    length = DEFAULT_GENERATED_LENGTH
    if sep:
        if not length_text.isdigit():
            raise click.UsageError(f"--generate '{spec}': LENGTH must be a whole number")
        length = int(length_text)
    if not MIN_GENERATED_LENGTH <= length <= MAX_GENERATED_LENGTH:
        raise click.UsageError(
            f"--generate '{spec}': LENGTH must be between {MIN_GENERATED_LENGTH} and "
            f"{MAX_GENERATED_LENGTH}"
        )
    return key, length


def generate_value(length: int) -> str:
    """A random URL-safe value of exactly ``length`` characters (6 bits of entropy each)."""
    return secrets.token_urlsafe(length)[:length]


def generate_values(specs: Sequence[str]) -> dict[str, str]:
    """One random value per ``KEY[:LENGTH]`` spec, registered with the masker."""
    found: dict[str, str] = {}
    for spec in specs:
        key, length = parse_generate_spec(spec)
        if key in found:
            raise click.UsageError(f"--generate names {key} twice")
        found[key] = generate_value(length)
    register(found.values())
    return found


def merge_sources(sources: Iterable[tuple[str, Mapping[str, str]]]) -> dict[str, str]:
    """Combine values from several options; a key given by two of them is a usage error."""
    merged: dict[str, str] = {}
    origin: dict[str, str] = {}
    for label, values in sources:
        for key, value in values.items():
            if key in merged:
                raise click.UsageError(f"{key} is given by both {origin[key]} and {label}")
            merged[key] = value
            origin[key] = label
    return merged


def register(values: Iterable[str]) -> None:
    """Mask these values in everything this process prints or logs from now on."""
    masker = get_masker()
    for value in values:
        try:
            masker.register(value)
        except UnicodeEncodeError:
            # Undecodable bytes (kept as surrogates): the masker cannot encode them; the backend
            # refuses the value with an error naming its key before anything could print it.
            continue
