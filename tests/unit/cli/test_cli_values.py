"""Pure pieces of the CLI: dotenv parsing and writing, literals, generators, ages, tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import click
import pytest
from cli_samples import CANARY
from hypothesis import given, settings
from hypothesis import strategies as st

from floe_dagster_secrets.cli import output
from floe_dagster_secrets.cli.values import (
    format_dotenv,
    generate_value,
    generate_values,
    merge_sources,
    parse_dotenv,
    parse_generate_spec,
    parse_literals,
)
from floe_dagster_secrets.errors import InvalidSecretValueError
from floe_dagster_secrets.masking import get_masker

# -- dotenv ---------------------------------------------------------------------------------


def test_dotenv_forms() -> None:
    text = (
        "# a comment\n"
        "\n"
        "PLAIN=value with spaces   \n"
        "export EXPORTED=1\n"
        "  INDENTED = x\n"
        "HASH=pa#ss # not a comment\n"
        'EMPTY=""\n'
        "SINGLE='lit\\n$x'\n"
        'DOUBLE="a\\nb\\t\\"q\\" \\\\"\n'
        'MULTI="line1\n'
        'line2"\n'
        "EQUALS=a=b=c\r\n"
        "SEPARATOR=a\x1db\n"
    )
    assert parse_dotenv(text, source="t") == {
        "PLAIN": "value with spaces",
        "EXPORTED": "1",
        "INDENTED": "x",
        "HASH": "pa#ss # not a comment",
        "EMPTY": "",
        "SINGLE": "lit\\n$x",
        "DOUBLE": 'a\nb\t"q" \\',
        "MULTI": "line1\nline2",
        "EQUALS": "a=b=c",
        "SEPARATOR": "a\x1db",
    }


@pytest.mark.parametrize(
    ("text", "why"),
    [
        (f"OK=1\n{CANARY}\n", "Line 2 of src is not KEY=VALUE"),
        (f"=({CANARY})\n", "Line 1 of src is not KEY=VALUE"),
        (f"BAD KEY={CANARY}\n", "Line 1 of src is not KEY=VALUE"),
        (f'K="{CANARY}\n', 'Line 1 of src opens a " quote that is never closed'),
        (f'K="{CANARY}" trailing\n', "Line 1 of src has text after the closing quote"),
        (f"K=1\nJ=2\nK={CANARY}\n", "Line 3 of src sets K again (first set on line 1)"),
        # A bare base64 token piped in must not become a key name (issue 17, point 5).
        ("dG9rZW4tdmFsdWUtMTIzNDU2Nzg5MA==\n", "looks like a bare token ending in '='"),
        ("dG9rZW4tdmFsdWUtMTIzNDU2Nzg5=\n", "looks like a bare token ending in '='"),
        ("OK=1\ndG9r+ZW4/dmFsdWUtMTIz==\n", "Line 2 of src does not start with a key name"),
        (f"{CANARY}+x=1\n", "Line 1 of src does not start with a key name"),
    ],
)
def test_dotenv_errors_name_the_line_never_its_content(text: str, why: str) -> None:
    with pytest.raises(InvalidSecretValueError) as info:
        parse_dotenv(text, source="src")
    assert why in str(info.value)
    assert CANARY not in str(info.value)


@pytest.mark.usefixtures("fresh_masker")
def test_parsed_values_are_registered_with_the_masker() -> None:
    parse_dotenv(f"K={CANARY}\n", source="t")
    assert get_masker().redact(CANARY) == "***"


@settings(deadline=None)
@given(
    st.dictionaries(
        st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,20}", fullmatch=True),
        st.text(st.characters(blacklist_categories=("Cs",)), max_size=40),
        max_size=6,
    )
)
def test_format_dotenv_round_trips_or_refuses_before_printing(data: dict[str, str]) -> None:
    def quotable(v: str) -> bool:  # some quoting that sh, python-dotenv and we undo alike
        if "\r" in v or "\0" in v or "${" in v:
            return False
        return not (("'" in v or "\\" in v) and ("$" in v or "`" in v))

    if all(quotable(v) for v in data.values()):
        assert parse_dotenv(format_dotenv(data), source="t") == data
        return
    with pytest.raises(InvalidSecretValueError) as info:
        format_dotenv(data)
    assert all(v not in str(info.value) for v in data.values() if len(v) > 3)


# -- literals, generators, merging ---------------------------------------------------------


def test_literals() -> None:
    assert parse_literals(["A=1", "B=x=y"]) == {"A": "1", "B": "x=y"}
    with pytest.raises(click.UsageError, match="number 2 is not KEY=VALUE") as info:
        parse_literals(["A=1", CANARY])
    assert CANARY not in str(info.value)
    with pytest.raises(click.UsageError, match="sets A twice"):
        parse_literals(["A=1", "A=2"])


@pytest.mark.parametrize(
    "token", ["c2stbGl2ZS1TVVBFUlNFQ1JFVDEyMw==", "c2stbGl2ZS1TVVBFUlNFQ1JFVDEyMzQ="]
)
def test_a_bare_base64_token_is_refused_not_stored_as_a_key_name(token: str) -> None:
    with pytest.raises(click.UsageError, match="number 2 looks like a bare token") as info:
        parse_literals(["A=1", token])
    assert token.rstrip("=") not in str(info.value)


def test_generate() -> None:
    assert parse_generate_spec("KEY") == ("KEY", 32)
    assert parse_generate_spec("KEY:64") == ("KEY", 64)
    for bad in ("", ":8", "K:7", "K:5000", "K:abc", "K:-1"):
        with pytest.raises(click.UsageError):
            parse_generate_spec(bad)
    values = {generate_value(16) for _ in range(50)}
    assert len(values) == 50
    assert all(len(v) == 16 and v.replace("-", "").replace("_", "").isalnum() for v in values)
    assert set(generate_values(["A", "B:10"])) == {"A", "B"}
    with pytest.raises(click.UsageError, match="names A twice"):
        generate_values(["A", "A:12"])


def test_merge_sources_refuses_a_key_from_two_sources() -> None:
    assert merge_sources([("a", {"X": "1"}), ("b", {"Y": "2"})]) == {"X": "1", "Y": "2"}
    with pytest.raises(click.UsageError, match="X is given by both a and b"):
        merge_sources([("a", {"X": "1"}), ("b", {"X": "2"})])


# -- output ---------------------------------------------------------------------------------


def test_age_like_kubectl() -> None:
    now = datetime(2026, 1, 10, tzinfo=UTC)
    assert output.age(now - timedelta(seconds=12), now=now) == "12s"
    assert output.age(now - timedelta(minutes=5, seconds=59), now=now) == "5m"
    assert output.age(now - timedelta(hours=3, minutes=59), now=now) == "3h"
    assert output.age(now - timedelta(days=7, hours=23), now=now) == "7d"
    assert output.age(now + timedelta(seconds=5), now=now) == "0s"
    assert output.age(None, now=now) == "<unknown>"


def test_table_aligns_columns_three_spaces_apart() -> None:
    assert output.table(("NAME", "TYPE"), [("long-name", "Opaque"), ("x", "y")]) == [
        "NAME        TYPE",
        "long-name   Opaque",
        "x           y",
    ]


def test_plural() -> None:
    assert output.plural(1, "error") == "1 error"
    assert output.plural(2, "error") == "2 errors"


@pytest.mark.usefixtures("fresh_masker")
def test_echo_redacts_registered_values_but_echo_value_does_not(
    capsys: pytest.CaptureFixture[str],
) -> None:
    get_masker().register(CANARY)
    output.echo(f"✓ leaked {CANARY}")
    output.echo_err(f"leaked {CANARY}")
    output.print_error(f"leaked {CANARY}")
    output.echo_value(CANARY)
    captured = capsys.readouterr()
    assert captured.out == f"✓ leaked ***\n{CANARY}\n"
    assert CANARY not in captured.err
    assert "Error: leaked ***" in captured.err
    assert "\x1b[" not in captured.out  # no colour codes when not on a terminal


def test_a_trailing_newline_is_never_taken_for_a_plain_value() -> None:
    # `$` in a pattern also matches before a final newline: the rules end in \Z instead.
    data = {"A": "0\n", "B": "x\n\n"}
    assert parse_dotenv(format_dotenv(data), source="t") == data
