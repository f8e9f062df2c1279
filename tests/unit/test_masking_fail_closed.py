"""Redaction fails closed everywhere text leaves the process, and child-process output is masked."""

from __future__ import annotations

import io
import sys

import pytest

from floe_dagster_secrets import masking
from floe_dagster_secrets.cli.output import echo, echo_err, print_error
from floe_dagster_secrets.masking import (
    MIN_MASKED_LENGTH,
    REDACTION_FAILED,
    SecretsMasker,
    get_masker,
    run_redacted,
)
from floe_dagster_secrets.types import REDACTED, SecretValue

CANARY = "canary-fail-closed-7Hq2ZxPw"


class _Exploding:
    """Stands in for a compiled pattern whose ``sub`` blows up (a bug, memory, recursion)."""

    def sub(self, repl: str, text: str) -> str:
        raise MemoryError("redaction blew up")


def _explode(literals: object) -> _Exploding:
    return _Exploding()


@pytest.fixture
def broken_masker(fresh_masker: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(masking, "literal_pattern", _explode)
    get_masker().register(CANARY)


def test_redact_returns_the_placeholder_when_redaction_raises(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(masking, "literal_pattern", _explode)
    masker = SecretsMasker()
    masker.register(CANARY)
    assert masker.redact(f"password {CANARY}") == REDACTION_FAILED


def test_redact_returns_the_placeholder_when_the_pattern_cannot_be_built(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(literals: object) -> None:
        raise MemoryError("no room for the pattern")

    monkeypatch.setattr(masking, "literal_pattern", refuse)
    masker = SecretsMasker()
    masker.register(CANARY)
    assert masker.redact(f"password {CANARY}") == REDACTION_FAILED


@pytest.mark.usefixtures("broken_masker")
def test_cli_output_fails_closed(capsys: pytest.CaptureFixture[str]) -> None:
    echo(f"value {CANARY}")
    echo_err(f"value {CANARY}")
    print_error(f"value {CANARY}")
    out, err = capsys.readouterr()
    assert CANARY not in out + err
    assert out.strip() == REDACTION_FAILED
    assert REDACTION_FAILED in err


@pytest.mark.usefixtures("fresh_masker")
def test_threshold_short_values_are_not_masked_longer_ones_are() -> None:
    assert MIN_MASKED_LENGTH == 5  # docs/security.md and the README say 5
    short = SecretValue("a1b2")  # 4 characters: registered, but not masked
    long = SecretValue("a1b2c")
    masker = get_masker()
    assert masker.redact("a1b2 is in this text") == "a1b2 is in this text"
    assert masker.redact("a1b2c is in this text") == f"{REDACTED} is in this text"
    assert len(short) < MIN_MASKED_LENGTH <= len(long)


@pytest.mark.usefixtures("fresh_masker")
def test_child_process_output_is_redacted_line_by_line() -> None:
    SecretValue(CANARY)  # resolved by a backend: registered
    script = (
        "import base64, os, sys\n"
        "v = os.environ['PASSWORD']\n"
        "print('connecting with', v)\n"
        "print('b64', base64.b64encode(v.encode()).decode(), file=sys.stderr)\n"
        "print('done')\n"
        "sys.exit(3)\n"
    )
    out, err = io.StringIO(), io.StringIO()
    code = run_redacted(
        [sys.executable, "-c", script], env={"PASSWORD": CANARY}, stdout=out, stderr=err
    )
    assert code == 3
    assert out.getvalue() == f"connecting with {REDACTED}\ndone\n"
    assert err.getvalue() == f"b64 {REDACTED}\n"


@pytest.mark.usefixtures("broken_masker")
def test_child_process_output_fails_closed_too() -> None:
    out, err = io.StringIO(), io.StringIO()
    run_redacted([sys.executable, "-c", f"print('{CANARY}')"], stdout=out, stderr=err)
    assert CANARY not in out.getvalue()
    assert REDACTION_FAILED in out.getvalue()


@pytest.mark.usefixtures("fresh_masker")
def test_values_inside_json_documents_are_masked_even_when_escaped() -> None:
    import json
    import logging

    value = 'pa"ss\\wörd\t-1234'
    SecretValue(value)
    masker = get_masker()
    for document in (json.dumps({"pw": value}), json.dumps({"pw": value}, ensure_ascii=False)):
        assert masker.redact(document) == json.dumps({"pw": REDACTED})
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "%s", (json.dumps([value]),), None)
    masker.filter(record)
    assert record.getMessage() == f'["{REDACTED}"]'
