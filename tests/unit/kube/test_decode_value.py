"""Decoding a Secret's value: a value that is not UTF-8 text is named by key, never carried."""

from __future__ import annotations

import base64
import traceback

import pytest

from floe_dagster_secrets.errors import InvalidSecretValueError
from floe_dagster_secrets.kube.objects import decode_value

# Not UTF-8 (0xff can start no UTF-8 sequence), and recognisable if it leaked.
BINARY = b"\xffcanary-bytes-7f3a"


def test_a_binary_value_raises_without_chaining_the_bytes() -> None:
    encoded = base64.b64encode(BINARY).decode("ascii")
    with pytest.raises(InvalidSecretValueError) as caught:
        decode_value("db", "jobs", "CERT", encoded)
    error = caught.value
    # A UnicodeDecodeError's .object is the value: neither the cause nor the context may keep it.
    assert error.__cause__ is None
    assert error.__suppress_context__ is True
    rendered = "".join(traceback.format_exception(error))
    assert "canary-bytes" not in rendered
    assert "CERT" in str(error)


def test_bad_base64_is_the_same_error() -> None:
    with pytest.raises(InvalidSecretValueError) as caught:
        decode_value("db", "jobs", "CERT", "not base64!")
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__ is True


def test_text_decodes() -> None:
    assert decode_value("db", "jobs", "K", base64.b64encode(b"text").decode()) == "text"
