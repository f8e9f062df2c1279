from __future__ import annotations

import base64
import logging
import urllib.parse

import pytest

from floe_dagster_secrets.masking import (
    MIN_MASKED_LENGTH,
    REDACTION_FAILED,
    SecretsMasker,
    encoded_forms,
    get_masker,
    install_masker,
    redact,
)
from floe_dagster_secrets.types import REDACTED

CANARY = "canary-Zq9!value/with+chars"


def test_registered_value_is_redacted_in_every_encoding() -> None:
    masker = SecretsMasker()
    masker.register(CANARY)
    b64 = base64.b64encode(CANARY.encode()).decode()
    quoted = urllib.parse.quote(CANARY, safe="")
    text = f"plain={CANARY} b64={b64} url={quoted}"
    redacted = masker.redact(text)
    assert CANARY not in redacted
    assert b64 not in redacted
    assert quoted not in redacted
    assert redacted.count(REDACTED) == 3


def test_short_values_are_not_masked() -> None:
    masker = SecretsMasker()
    masker.register("abc")
    assert masker.redact("abc is common text") == "abc is common text"
    assert len("x" * MIN_MASKED_LENGTH) == MIN_MASKED_LENGTH
    masker.register("x" * MIN_MASKED_LENGTH)
    assert masker.redact("x" * MIN_MASKED_LENGTH) == REDACTED


def test_longest_value_wins_when_values_overlap() -> None:
    masker = SecretsMasker()
    masker.register("secret-value")
    masker.register("secret-value-longer")
    assert masker.redact("secret-value-longer") == REDACTED


def test_multiline_values_are_masked_line_by_line() -> None:
    masker = SecretsMasker()
    key = "-----BEGIN KEY-----\nAAAABBBBCCCCDDDD\nEEEEFFFFGGGG\n-----END KEY-----"
    masker.register(key)
    assert "AAAABBBBCCCCDDDD" not in masker.redact("line: AAAABBBBCCCCDDDD")


def test_redact_object_hides_sensitive_keys_and_registered_values() -> None:
    masker = SecretsMasker()
    masker.register(CANARY)
    obj = {"password": "not-registered-1", "note": f"has {CANARY}", "nested": [{"token": "t0k3n"}]}
    out = masker.redact_object(obj)
    assert out == {"password": REDACTED, "note": f"has {REDACTED}", "nested": [{"token": REDACTED}]}


def test_filter_redacts_message_args_and_exception() -> None:
    masker = SecretsMasker()
    masker.register(CANARY)
    try:
        raise ValueError(f"boom {CANARY}")
    except ValueError:
        record = logging.LogRecord("t", logging.ERROR, __file__, 1, "got %s", (CANARY,), None)
        import sys

        record.exc_info = sys.exc_info()
    assert masker.filter(record)
    assert CANARY not in record.getMessage()
    assert record.exc_text is not None
    assert CANARY not in record.exc_text


def test_filter_fails_closed() -> None:
    masker = SecretsMasker()

    class Exploding:
        def __str__(self) -> str:
            raise RuntimeError("cannot format")

    record = logging.LogRecord("t", logging.INFO, __file__, 1, Exploding(), None, None)
    masker.filter(record)
    assert record.getMessage() == REDACTION_FAILED


@pytest.mark.usefixtures("fresh_masker")
def test_installed_masker_redacts_records_from_any_logger(
    caplog: pytest.LogCaptureFixture,
) -> None:
    install_masker()
    install_masker()  # idempotent
    get_masker().register(CANARY)
    with caplog.at_level(logging.INFO):
        logging.getLogger("some.third.party").info("connecting with %s", CANARY)
    assert CANARY not in caplog.text
    assert REDACTED in caplog.text
    assert redact(CANARY) == REDACTED


def test_encoded_forms_skip_too_short() -> None:
    assert encoded_forms("ab") == set()
    assert CANARY in encoded_forms(CANARY)


def test_large_values_are_redacted_without_slowing_the_regex() -> None:
    masker = SecretsMasker()
    large = "L" * 700_000 + "-end"
    masker.register(large)
    masker.register(CANARY)
    assert masker.redact(f"a {large} b {CANARY} c") == f"a {REDACTED} b {REDACTED} c"


def test_values_with_unpaired_surrogates_can_be_registered() -> None:
    masker = SecretsMasker()
    odd = "abc\udcffdefgh"
    masker.register(odd)
    assert masker.redact(f"x{odd}y") == f"x{REDACTED}y"
