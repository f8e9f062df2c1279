"""Hex forms, and learning values from a text another process stored redacted."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from floe_dagster_secrets.masking import (
    MIN_MASKED_LENGTH,
    SecretsMasker,
    encoded_forms,
    learn_from_redaction,
)
from floe_dagster_secrets.types import REDACTED

CANARY = "canary-Zq9!value/with+chars"


def test_hex_forms_in_both_cases_are_masked() -> None:
    masker = SecretsMasker()
    masker.register(CANARY)
    lower, upper = CANARY.encode().hex(), CANARY.encode().hex().upper()
    assert {lower, upper} <= encoded_forms(CANARY)
    assert masker.redact(f"dump={lower} DUMP={upper}") == f"dump={REDACTED} DUMP={REDACTED}"


def test_hex_of_non_ascii_value_is_its_utf8_bytes() -> None:
    value = "clé-secrète-ü"
    assert value.encode("utf-8").hex() in encoded_forms(value)


def test_spans_are_found_between_placeholders() -> None:
    raw = "boom hunter2secret, then b64 aHVudGVyMnNlY3JldA== end hunter2secret"
    redacted = f"boom {REDACTED}, then b64 {REDACTED} end {REDACTED}"
    assert learn_from_redaction(raw, redacted) == [
        "hunter2secret",
        "aHVudGVyMnNlY3JldA==",
        "hunter2secret",
    ]


def test_nothing_is_learned_from_an_unrelated_or_unredacted_pair() -> None:
    assert learn_from_redaction("a plain text", "a plain text") == []
    assert learn_from_redaction("one text", f"another {REDACTED}") == []
    assert learn_from_redaction("short", f"short{REDACTED}") == []  # an empty span is no value


def test_learned_values_are_redacted_everywhere_afterwards() -> None:
    step = SecretsMasker()
    step.register("hunter2secret")
    raw = "RuntimeError: connection refused for password hunter2secret"
    run_worker = SecretsMasker()
    run_worker.learn(raw, step.redact(raw))
    assert run_worker.redact(raw) == step.redact(raw)
    assert run_worker.redact("another line with hunter2secret") == f"another line with {REDACTED}"


def test_an_ambiguous_split_falls_back_to_hiding_more_never_less() -> None:
    """A value that contains the text after it: the left-to-right split is wrong, so the whole
    differing stretch is hidden instead."""
    step = SecretsMasker()
    step.register("ab and cdefg")
    raw = "x ab and cdefg and hijkl y"
    redacted = step.redact(raw)
    run_worker = SecretsMasker()
    run_worker.learn(raw, redacted)
    assert "cdefg" not in run_worker.redact(raw)
    assert "ab and cdefg" not in run_worker.redact("the value ab and cdefg alone")


def test_a_failed_redaction_placeholder_teaches_the_whole_text() -> None:
    run_worker = SecretsMasker()
    raw = "error with hunter2secret inside"
    run_worker.learn(raw, "***redaction failed: message withheld***")
    assert "hunter2secret" not in run_worker.redact(raw)


@settings(deadline=None)  # a shared 2-core machine: time is not the property
@given(
    secrets=st.lists(
        st.text(min_size=MIN_MASKED_LENGTH, max_size=30).filter(lambda s: s.strip()),
        min_size=1,
        max_size=3,
    ),
    filler=st.lists(st.text(max_size=20), min_size=4, max_size=4),
)
def test_learning_never_leaves_a_value_visible(secrets: list[str], filler: list[str]) -> None:
    """Whatever the text and values, what the step process hid, the run worker hides too."""
    raw = filler[0] + secrets[0] + filler[1] + secrets[-1] + filler[2] + secrets[0] + filler[3]
    step = SecretsMasker()
    step.register_all(secrets)
    redacted = step.redact(raw)
    run_worker = SecretsMasker()
    run_worker.learn(raw, redacted)
    out = run_worker.redact(raw)
    for value in secrets:
        if value not in redacted:  # hidden by the step process
            assert value not in out


def test_an_uncaught_exception_is_printed_redacted() -> None:
    """Python prints an uncaught exception to stderr without logging: the masker's hook redacts
    it (``dagster job execute`` re-raises a step's error this way)."""
    import subprocess
    import sys

    code = (
        "from floe_dagster_secrets.masking import get_masker, install_masker\n"
        "install_masker()\n"
        f"get_masker().register({CANARY!r})\n"
        f"raise RuntimeError('login failed with ' + {CANARY!r})\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 1
    assert "RuntimeError: login failed with ***" in result.stderr
    assert CANARY not in result.stderr
