"""The four credential-name rules share one vocabulary and differ only where they mean to."""

from __future__ import annotations

import pytest

from floe_dagster_secrets.credential_names import (
    CORE_WORDS,
    MASKED_KEY_PATTERN,
    is_credential_env_name,
    is_credential_setting_key,
    is_dbt_setting_name,
)


def _masked(key: str) -> bool:
    return bool(MASKED_KEY_PATTERN.search(key))


@pytest.mark.parametrize("word", CORE_WORDS)
def test_every_rule_treats_the_core_words_as_credentials(word: str) -> None:
    for name in (word, word.upper(), f"db_{word}"):
        assert is_credential_setting_key(name)
        assert is_credential_env_name(name)
        assert _masked(name)
        assert is_dbt_setting_name(name)


@pytest.mark.parametrize(
    ("name", "setting", "env", "masked", "dbt"),
    [
        # a word inside another word: only masking (a substring) hides it
        ("secretary", False, True, True, False),
        ("tokenizer", False, True, True, False),
        # an Authorization header: masking hides it, no other rule is about it
        ("Authorization", False, False, True, False),
        # _KEY suffix: env names and dbt; settings need a phrase (api_key, sas_key …)
        ("AWS_ACCESS_KEY", True, True, True, True),
        ("SIGNING_KEY", False, True, False, True),
        ("MONKEY", False, False, False, False),
        # Google's token_uri is a URL: dbt's rule knows it, the manifest refuses it anyway
        ("token_uri", True, True, True, False),
        ("host", False, False, False, False),
    ],
)
def test_where_the_rules_differ(
    name: str, setting: bool, env: bool, masked: bool, dbt: bool
) -> None:
    assert is_credential_setting_key(name) is setting
    assert is_credential_env_name(name) is env
    assert _masked(name) is masked
    assert is_dbt_setting_name(name) is dbt
