"""Redact registered secret values from log records, exception text and CLI output.

Modelled on Airflow's secrets masker: values are registered as they are resolved, very short
values are not masked (they would redact half of every log line), values under sensitive key names
are hidden wherever a mapping is logged, and redaction fails closed — if it ever raises, the whole
message is replaced by a placeholder rather than passed through raw.

Each value is also registered in its base64, URL-encoded, JSON-escaped and hex forms, because that
is how it shows up in Kubernetes objects, HTTP logs, connection strings, serialized documents and
``bytes.hex()`` dumps.

A process that never saw a value can still learn it from a text it holds raw and the same text
another process stored redacted (:func:`learn_from_redaction`): a Dagster run worker does this for
the step failure its step process stored, so its own stderr is redacted too.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import subprocess
import sys
import threading
import traceback
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType
from typing import IO, Any

from floe_dagster_secrets.credential_names import MASKED_KEY_PATTERN
from floe_dagster_secrets.literal_pattern import literal_pattern
from floe_dagster_secrets.types import REDACTED

MIN_MASKED_LENGTH = 5
"""Values shorter than this are not masked: too many false hits in ordinary text."""

REDACTION_FAILED = "***redaction failed: message withheld***"

LARGE_VALUE_LENGTH = 1024
"""Forms longer than this are replaced with ``str.replace`` instead of joining the regex: a regex
alternation over large literals makes every later redaction slow."""

SENSITIVE_KEY_PATTERN = MASKED_KEY_PATTERN
"""Keys whose values :meth:`SecretsMasker.redact_object` hides whatever they hold (the rule lives
in :mod:`floe_dagster_secrets.credential_names`, beside the manifest's and the launcher's)."""


def encoded_forms(value: str) -> set[str]:
    """The forms in which a value is likely to leak: plain, base64, URL, JSON, hex (both cases)."""
    # surrogatepass: a value with unpaired surrogates (never valid UTF-8, refused by every
    # backend) must still be maskable rather than make registration raise.
    raw = value.encode("utf-8", "surrogatepass")
    forms = {
        value,
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode(),
        urllib.parse.quote(raw, safe=""),
        urllib.parse.quote_plus(raw, safe=""),
        raw.hex(),
        raw.hex().upper(),
    }
    # base64 without its padding, as JWT-style encoders write it.
    forms |= {form.rstrip("=") for form in forms}
    # JSON-escaped, as the value sits inside a serialized document (a logged dict, an event
    # log entry, an API body): quotes, backslashes, control and (ensure_ascii) non-ASCII
    # characters are escaped there, so the plain form would not match.
    forms |= {json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}
    return {form for form in forms if len(form) >= MIN_MASKED_LENGTH}


def _common_prefix_length(a: str, b: str) -> int:
    for index, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return index
    return min(len(a), len(b))


def learn_from_redaction(raw: str, redacted: str) -> list[str]:
    """The spans of ``raw`` that a masker replaced with ``***`` to produce ``redacted``.

    The text between placeholders is matched against ``raw`` left to right, each hidden span at
    least one character long. Returns ``[]`` when ``redacted`` hides nothing or cannot have come
    from ``raw``. The split is ambiguous when a hidden value contains the text that follows it;
    :meth:`SecretsMasker.learn` checks the result and falls back to hiding more.
    """
    parts = redacted.split(REDACTED)
    if len(parts) < 2:
        return []
    first, *middle, last = parts
    end = len(raw) - len(last)
    if end <= len(first) or not raw.startswith(first) or not raw.endswith(last):
        return []
    spans: list[str] = []
    position = len(first)
    for part in middle:
        found = raw.find(part, position + 1, end)
        if found < 0:
            return []
        spans.append(raw[position:found])
        position = found + len(part)
    if position >= end:
        return []
    spans.append(raw[position:end])
    return spans


_Matchers = tuple[tuple[str, ...], re.Pattern[str] | None]
"""The large forms, longest first (replaced one by one), and one pattern for all the others."""


def _compile_matchers(forms: set[str]) -> _Matchers:
    large = tuple(sorted((f for f in forms if len(f) > LARGE_VALUE_LENGTH), key=len, reverse=True))
    return large, literal_pattern([f for f in forms if len(f) <= LARGE_VALUE_LENGTH])


class SecretsMasker(logging.Filter):
    """A :class:`logging.Filter` that replaces every registered value with ``***``."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._matchers: _Matchers | None = None

    def register(self, value: str) -> None:
        """Remember a value (and its encodings) so it is redacted from now on."""
        if len(value) < MIN_MASKED_LENGTH:
            return
        forms = encoded_forms(value)
        # Multi-line values (keys, certificates) also leak line by line, plain or JSON-escaped.
        lines = {line for line in value.splitlines() if len(line.strip()) >= MIN_MASKED_LENGTH}
        forms |= lines | {json.dumps(line)[1:-1] for line in lines}
        with self._lock:
            if forms <= self._values:
                return
            self._values |= forms
            # Compiled by the next redaction, so registering n values costs one compile, not n.
            self._matchers = None

    def register_all(self, values: Iterable[str]) -> None:
        """Register several values at once."""
        for value in values:
            self.register(value)

    def clear(self) -> None:
        """Forget every value (for tests)."""
        with self._lock:
            self._values.clear()
            self._matchers = None

    def learn(self, raw: str, redacted: str) -> None:
        """Register the values another process's masker hid in ``redacted``, its copy of ``raw``.

        The hidden spans are found by :func:`learn_from_redaction`. When they do not reproduce
        ``redacted`` exactly (a value adjacent to another, or containing the text that follows
        it), the whole stretch of ``raw`` from the first to the last difference is registered
        instead, with a few characters of margin: this process then hides too much, never too
        little.
        """
        if raw == redacted:
            return
        self.register_all(learn_from_redaction(raw, redacted))
        if self.redact(raw) == redacted:
            return
        prefix = _common_prefix_length(raw, redacted)
        suffix = _common_prefix_length(raw[::-1], redacted[::-1])
        start = max(0, prefix - len(REDACTED))
        end = max(start, len(raw) - max(0, suffix - len(REDACTED)))
        self.register(raw[start:end])

    @property
    def registered_count(self) -> int:
        """How many forms are being masked; lets tests and health checks see the masker works."""
        return len(self._values)

    def redact(self, text: str) -> str:
        """Return ``text`` with every registered value replaced; fails closed."""
        try:
            if not text:
                return text
            large, pattern = self._current_matchers()
            for value in large:
                text = text.replace(value, REDACTED)
            return pattern.sub(REDACTED, text) if pattern is not None else text
        except Exception:  # never pass raw text on failure
            return REDACTION_FAILED

    def _current_matchers(self) -> _Matchers:
        matchers = self._matchers
        if matchers is None:
            with self._lock:
                matchers = self._matchers
                if matchers is None:
                    matchers = self._matchers = _compile_matchers(self._values)
        return matchers

    def redact_object(self, obj: Any, *, depth: int = 0) -> Any:
        """Redact strings inside mappings and sequences, hiding values under sensitive keys."""
        if depth > 20:
            return REDACTED
        if isinstance(obj, str):
            return self.redact(obj)
        if isinstance(obj, Mapping):
            return {
                key: (
                    REDACTED
                    if isinstance(key, str) and SENSITIVE_KEY_PATTERN.search(key) and value
                    else self.redact_object(value, depth=depth + 1)
                )
                for key, value in obj.items()
            }
        if isinstance(obj, list | tuple | set):
            return type(obj)(self.redact_object(item, depth=depth + 1) for item in obj)
        return obj

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact the record in place: message, arguments and exception text."""
        try:
            message = record.getMessage()
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.msg = self.redact(message)
            record.args = None
            if record.exc_text:
                record.exc_text = self.redact(record.exc_text)
                record.exc_info = None
            if record.stack_info:
                record.stack_info = self.redact(record.stack_info)
        except Exception:
            record.msg = REDACTION_FAILED
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


_MASKER = SecretsMasker()
_INSTALL_LOCK = threading.Lock()
_installed = False


def get_masker() -> SecretsMasker:
    """The process-wide masker every backend registers values with."""
    return _MASKER


def redact(text: str) -> str:
    """Redact registered values from ``text`` with the process-wide masker."""
    return _MASKER.redact(text)


def install_masker() -> None:
    """Redact every log record created in this process, whichever logger or handler it meets.

    A filter on one logger misses records from its children and from loggers configured later
    (Dagster's, dbt's), so the masker is put into the log-record factory instead: every record is
    redacted as it is created. An uncaught exception, which Python prints to stderr without
    logging, is printed redacted too, unless the process already has its own ``sys.excepthook``
    (that hook is left alone). Idempotent.
    """
    global _installed
    with _INSTALL_LOCK:
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def masked_record_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            _MASKER.filter(record)
            return record

        logging.setLogRecordFactory(masked_record_factory)
        if sys.excepthook is sys.__excepthook__:
            sys.excepthook = _redacted_excepthook
        _installed = True


def _redacted_excepthook(
    exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
) -> None:
    """Python's default uncaught-exception print, redacted (the CLI re-raising a step's error)."""
    sys.stderr.write(_MASKER.redact("".join(traceback.format_exception(exc_type, exc, tb))))
    sys.stderr.flush()


def _copy_redacted(source: IO[str], sink: IO[str]) -> None:
    for line in source:
        sink.write(_MASKER.redact(line))
        sink.flush()


def run_redacted(
    args: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    stdout: IO[str] | None = None,
    stderr: IO[str] | None = None,
    timeout: float | None = None,
) -> int:
    """Run a process whose output may carry secrets; copy it out line by line, redacted.

    Dagster captures a step's compute logs at the file-descriptor level, so a child process that
    inherits the step's stdout writes past the log-record masker. Run such a child (a driver, a
    CLI handed a credential) through this instead: its stdout and stderr are read by this
    process, redacted with the process-wide masker, and written to ``stdout``/``stderr`` (default:
    this process's, which is what Dagster captures). Returns the exit code.

    Raises:
        subprocess.TimeoutExpired: ``timeout`` passed; the child is killed first.
    """
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    process = subprocess.Popen(
        list(args),
        env=dict(env) if env is not None else None,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
    )
    child_out, child_err = process.stdout, process.stderr
    if child_out is None or child_err is None:  # pragma: no cover - PIPE always gives both
        raise RuntimeError("subprocess pipes were not created")
    copiers = [
        threading.Thread(target=_copy_redacted, args=(child_out, out), daemon=True),
        threading.Thread(target=_copy_redacted, args=(child_err, err), daemon=True),
    ]
    for copier in copiers:
        copier.start()
    try:
        code = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise
    finally:
        for copier in copiers:
            copier.join()
        child_out.close()
        child_err.close()
    return code
