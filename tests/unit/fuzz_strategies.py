"""Hypothesis strategies and settings shared by the fuzz tests (``test_fuzz_*.py``).

Deterministic (``derandomize=True``: the same examples on every run, so CI is stable) and modest
(``max_examples`` 60, no deadline: the examples do real file I/O and start no server). Each
strategy mixes well-formed input, input that is nearly right, and plain garbage, so both the
accepting and the refusing paths are exercised.
"""

from __future__ import annotations

import base64
import json
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


# -- hostile input (issue 17) ---------------------------------------------------------------

JINJA_MARKERS = ("{{", "{%", "{#")


def jinja_strings() -> st.SearchStrategy[str]:
    """Text holding a Jinja marker somewhere: what dbt would evaluate in profiles.yml."""
    return st.builds(
        lambda before, marker, inside, after: f"{before}{marker}{inside}{after}",
        st.text(max_size=8),
        st.sampled_from(JINJA_MARKERS),
        st.sampled_from(
            [" env_var('DBT_ENV_SECRET_KEY') }}", " modules.os.system('id') }}", " if 1 %}", ""]
        ),
        st.text(max_size=8),
    )


def _alias_bomb(levels: int, fan_out: int) -> str:
    items = ", ".join(["x"] * fan_out)
    lines = [f"a0: &a0 [{items}]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * fan_out)}]" for i in range(1, levels)]
    return "".join(f"      {line}\n" for line in lines)


def _merge_chain(levels: int, fan_out: int) -> str:
    lines = ["m0: &m0 {k0: v}"]
    for i in range(1, levels):
        merged = ", ".join([f"*m{i - 1}"] * fan_out)
        lines.append(f"m{i}: &m{i} {{<<: [{merged}], k{i}: v}}")
    return "".join(f"      {line}\n" for line in lines)


def yaml_alias_settings() -> st.SearchStrategy[str]:
    """Lines under ``plugins.compute.config`` using anchors, aliases and merge keys.

    Small harmless reuse, alias bombs of any size (up to 12 levels of 12), merge-key chains,
    recursive anchors, and aliases to anchors that do not exist.
    """
    sizes = st.tuples(st.integers(1, 12), st.integers(1, 12))
    return st.one_of(
        sizes.map(lambda s: _alias_bomb(*s)),
        sizes.map(lambda s: _merge_chain(*s)),
        st.just("      r: &r [*r]\n"),
        st.just("      r: &r {self: *r}\n"),
        st.just("      u: *nowhere\n"),
        st.just("      <<: {path: other.duckdb, threads: 2}\n"),
        st.just("      m: {<<: [1, 2]}\n"),
    )


_RECORD = {
    "version": 1,
    "created": "2026-01-01T00:00:00+00:00",
    "updated": "2026-01-01T00:00:00+00:00",
    "type": "Opaque",
    "data": {"A": "value-a"},
}


def _record_with(field: str, value: Any) -> bytes:
    document = dict(_RECORD)
    document[field] = value
    return json.dumps(document).encode()


def hostile_store_contents() -> st.SearchStrategy[bytes]:
    """What a hand-edited, half-written or planted secret file may hold."""
    return st.one_of(
        st.binary(max_size=200),
        st.integers(19, 6000).map(
            lambda digits: _record_with("version", 0).replace(
                b'"version": 0', b'"version": ' + b"9" * digits
            )
        ),
        st.integers(1, 200_000).map(lambda depth: b"[" * depth + b"]" * depth),
        st.sampled_from(["bad key/../x", "", "..", "a b", "K\n", "ü"]).map(
            lambda key: _record_with("data", {key: "v"})
        ),
        yaml_values().map(lambda value: _record_with("data", value)),
        yaml_values().map(lambda value: _record_with("type", value)),
        yaml_values().map(lambda value: _record_with("version", value)),
        st.just(json.dumps(_RECORD).encode()[:-7]),  # cut short: a crash mid-write
        st.just(b'{"version": 1e999, "data": {}}'),
    )


def hostile_store_file_kinds() -> st.SearchStrategy[str]:
    """How the planted file is there: mode, a symlink, a directory, a FIFO, another owner."""
    return st.sampled_from(
        ["0600", "0644", "0666", "symlink", "directory", "fifo", "other-owner", "stale-tmp"]
    )


def bare_tokens() -> st.SearchStrategy[str]:
    """A credential pasted alone, as base64 (padded or not, standard or URL-safe) or hex."""
    raw = st.binary(min_size=8, max_size=48)
    return st.one_of(
        raw.map(lambda b: base64.b64encode(b).decode()),
        raw.map(lambda b: base64.urlsafe_b64encode(b).decode()),
        raw.map(lambda b: base64.b64encode(b).decode().rstrip("=")),
        raw.map(bytes.hex),
    )
