"""The masker's pattern: a trie of literals that matches exactly what the plain alternation does."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from floe_dagster_secrets import masking
from floe_dagster_secrets.literal_pattern import literal_pattern
from floe_dagster_secrets.masking import SecretsMasker
from floe_dagster_secrets.types import REDACTED


def _alternation(literals: list[str]) -> re.Pattern[str]:
    """What the masker compiled before: every literal, longest first (Airflow's masker does too)."""
    by_length = sorted(set(literals), key=len, reverse=True)
    return re.compile("|".join(re.escape(literal) for literal in by_length))


# A small alphabet with regex metacharacters, so literals share prefixes, overlap and nest.
_CHARS = st.sampled_from("ab.*(|\\\n-é😀")


@given(
    literals=st.lists(st.text(_CHARS, min_size=1, max_size=8), min_size=1, max_size=30),
    text=st.text(_CHARS, max_size=80),
)
def test_the_trie_replaces_exactly_what_the_longest_first_alternation_replaces(
    literals: list[str], text: str
) -> None:
    pattern = literal_pattern(literals)
    assert pattern is not None
    assert pattern.sub("*", text) == _alternation(literals).sub("*", text)


def test_a_prefix_and_its_extensions_match_longest_first() -> None:
    pattern = literal_pattern(["pass", "password", "passwords!", "pa"])
    assert pattern is not None
    assert pattern.sub("*", "pa pas pass password passwords! passwordz") == "* *s * * * *z"


def test_a_trie_too_deep_to_build_falls_back_to_the_alternation() -> None:
    nested = ["a" * length for length in range(1, 3_000)]
    pattern = literal_pattern(nested)
    assert pattern is not None
    assert pattern.sub("*", "x" + "a" * 2_500 + "y") == "x*y"


def test_no_literals_give_no_pattern_and_an_empty_one_is_refused() -> None:
    assert literal_pattern([]) is None
    with pytest.raises(ValueError, match="empty literal"):
        literal_pattern(["value", ""])


def test_registering_many_values_compiles_once_at_the_next_redaction(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    compiled: list[int] = []

    def counting(literals: list[str]) -> re.Pattern[str] | None:
        compiled.append(len(literals))
        return literal_pattern(literals)

    monkeypatch.setattr(masking, "literal_pattern", counting)
    masker = SecretsMasker()
    values = [f"secret-value-{index:04d}" for index in range(200)]
    masker.register_all(values)
    assert compiled == []
    assert masker.redact(f"a {values[7]} b {values[199]}") == f"a {REDACTED} b {REDACTED}"
    assert masker.redact(values[0]) == REDACTED
    assert len(compiled) == 1
    masker.register("one-more-value")
    assert masker.redact("x one-more-value") == f"x {REDACTED}"
    assert len(compiled) == 2
