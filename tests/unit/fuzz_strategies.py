"""Hypothesis strategies and settings shared by the fuzz tests (``test_fuzz_*.py``).

Deterministic (``derandomize=True``: the same examples on every run, so CI is stable) and modest
(``max_examples`` 60, no deadline: the examples do real file I/O and start no server). Each
strategy mixes well-formed input, input that is nearly right, and plain garbage, so both the
accepting and the refusing paths are exercised.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

FUZZ = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
"""Settings for fuzz tests that do real I/O per example."""

MIB = 1024 * 1024

_TRICKY_NAMES = [
    "",
    ".",
    "..",
    "../escape",
    "a/b",
    "UPPER",
    "-leading",
    "trailing-",
    "a..b",
    "a" * 254,
    "nul\x00byte",
    "ümlaut",
    " spaced",
    "valid-name",
    "duckdb-dev-credentials",
]

_TRICKY_KEYS = [
    "",
    ".",
    "..",
    "..hidden",
    "a=b",
    "a b",
    "KEY\n",
    "1KEY",
    "db.password",
    "api-key",
    "K" * 254,
    "VALID_KEY",
    "_",
]


def secret_names() -> st.SearchStrategy[str]:
    """Valid Kubernetes names, near misses and arbitrary text."""
    return st.one_of(
        st.sampled_from(_TRICKY_NAMES),
        st.from_regex(r"\A[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?(\.[a-z0-9]{1,5})?\Z"),
        st.text(max_size=40),
    )


def secret_keys() -> st.SearchStrategy[str]:
    """Portable env names, valid Secret keys that are not portable, and arbitrary text."""
    return st.one_of(
        st.sampled_from(_TRICKY_KEYS),
        st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_]{0,15}\Z"),
        st.from_regex(r"\A[-._a-zA-Z0-9]{1,16}\Z"),
        st.text(max_size=20),
    )


def secret_values() -> st.SearchStrategy[str]:
    """Empty, unicode (unpaired surrogates included), control characters, and just-too-large."""
    return st.one_of(
        st.just(""),
        st.text(max_size=200),
        st.text(st.characters(codec=None, categories=["Cs", "Cc", "Zs", "So"]), max_size=20),
        st.binary(max_size=64).map(lambda raw: raw.decode("latin-1")),
        st.integers(MIB - 4, MIB + 4).map(lambda size: "v" * size),
    )


def payloads() -> st.SearchStrategy[bytes]:
    """Bytes as they might arrive on stdin or in an env file: dotenv-ish, binary, huge, empty."""
    line = st.builds(
        lambda key, value: f"{key}={value}\n",
        secret_keys(),
        st.text(max_size=40),
    )
    return st.one_of(
        st.just(b""),
        st.binary(max_size=256),
        st.lists(line, max_size=5).map(
            lambda lines: "".join(lines).encode("utf-8", "surrogatepass")
        ),
        st.integers(MIB - 2, MIB + 2).map(lambda size: b"BIG=" + b"x" * size + b"\n"),
        st.just(b"\xff\xfeK=V\n"),
        st.just(b'QUOTED="unterminated\n'),
    )


def yaml_values() -> st.SearchStrategy[Any]:
    """Arbitrary YAML-able structures (what a hand-edited manifest can turn into)."""
    scalars = st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)
    )
    return st.recursive(
        scalars,
        lambda children: st.one_of(
            st.lists(children, max_size=3),
            st.dictionaries(st.text(max_size=12), children, max_size=4),
        ),
        max_leaves=12,
    )
