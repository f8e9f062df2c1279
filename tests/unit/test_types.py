from __future__ import annotations

import pickle
from datetime import UTC, datetime

import pytest

from floe_dagster_secrets.masking import get_masker
from floe_dagster_secrets.types import REDACTED, SecretMetadata, SecretValue, reveal_all

CANARY = "canary-types-0123456789"


@pytest.mark.usefixtures("fresh_masker")
def test_secret_value_never_shows_itself() -> None:
    value = SecretValue(CANARY)
    for shown in (repr(value), str(value), f"{value}", f"{value!r}", f"{value:>40}", str([value])):
        assert CANARY not in shown
    assert value.reveal() == CANARY
    assert REDACTED in repr(value)


@pytest.mark.usefixtures("fresh_masker")
def test_secret_value_registers_with_the_masker() -> None:
    SecretValue(CANARY)
    assert get_masker().redact(f"x {CANARY} y") == f"x {REDACTED} y"


def test_secret_value_refuses_pickling_and_bytes() -> None:
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(SecretValue(CANARY, register=False))
    with pytest.raises(TypeError, match="holds text"):
        SecretValue(b"bytes")  # type: ignore[arg-type]


def test_secret_value_equality_and_unhashable() -> None:
    a, b = SecretValue(CANARY, register=False), SecretValue(CANARY, register=False)
    assert a == b
    assert a != SecretValue("other-value", register=False)
    with pytest.raises(TypeError):
        hash(a)


def test_reveal_all_and_metadata_json_has_no_values() -> None:
    data = {"KEY": SecretValue(CANARY, register=False)}
    assert reveal_all(data) == {"KEY": CANARY}
    created = datetime(2026, 1, 1, tzinfo=UTC)
    meta = SecretMetadata(
        name="s", namespace="ns", backend="local", keys=("KEY",), version="3", created=created
    )
    assert meta.to_json() == {
        "name": "s",
        "namespace": "ns",
        "backend": "local",
        "type": "Opaque",
        "keys": ["KEY"],
        "version": "3",
        "created": "2026-01-01T00:00:00+00:00",
        "updated": None,
        "managed_by_floe": False,
        "keys_known": True,
        "key_count": 1,
    }
