"""Which names mark a credential: one vocabulary, the four rules floe derives from it.

Four places ask "does this name hold a credential?", and they deliberately answer differently,
because a wrong answer costs each of them something different:

- :data:`SETTING_KEY_PATTERN` — a key in the manifest's settings (``plugins.*.config``): the
  manifest refuses it, so a credential never lands in git. Whole words with word boundaries
  (``password``, ``clientSecret``, ``SECRET_KEY``; not ``secretary`` or ``tokenizer``) plus
  phrases anywhere (``privateKeyPath``, ``keyfile_json``). A false alarm moves one setting into
  the secret; the JSON Schema uses the same pattern for editors, so it stays an ECMAScript-
  compatible regex.
- :data:`ENV_NAME_PATTERN` — an env var of a run's pod set to a literal value: the launcher
  refuses the run. Upper-case env names, so a substring of the core words, or a ``_KEY`` suffix
  (``AWS_ACCESS_KEY``; not ``MONKEY`` or ``KEYCLOAK_URL``, which name no credential).
- :data:`MASKED_KEY_PATTERN` — a key whose value :mod:`floe_dagster_secrets.masking` hides in a
  logged object: the broadest (any substring, also ``auth`` for ``Authorization`` headers),
  since hiding a harmless value costs nothing there.
- :func:`is_dbt_setting_name` — a dbt adapter setting: the name's words (split on anything not a
  letter or digit) against the vocabulary, and ``_key``/``_key_id``/``_json`` suffixes, except
  ``token_uri`` (a Google service-account field that is a URL).

All four start from :data:`CORE_WORDS`; what each adds is written next to it below, so a word
that belongs in every rule is added once, and a difference between rules is a visible choice.
"""

from __future__ import annotations

import re

CORE_WORDS = ("password", "secret", "token")
"""Words every rule treats as a credential."""

# --- manifest settings keys -----------------------------------------------------------------

_SETTING_WORDS = ("password", "passwd", "pwd", "passphrase", "secret", "token", "keytab")
"""Whole words (:data:`CORE_WORDS` and spellings of a password, a Kerberos keytab)."""
_SETTING_PHRASES = (
    "credential",
    "client_secret",
    "private_key",
    "keyfile",
    "api_key",
    "access_key",
    "account_key",
    "sas_key",
    "connection_string",
)
"""Phrases anywhere in the key; ``_`` in them also matches ``.``, ``-``, a space or nothing."""


def _any_case(word: str) -> str:
    """A regex for ``word`` that ignores case and treats ``_`` as an optional separator.

    JSON Schema regexes take no flags, so case is spelled out per letter (``[aA][pP][iI]``);
    the optional separator lets camelCase and run-together spellings match too.
    """
    return "".join(
        f"[{c}{c.upper()}]" if c.isalpha() else r"[_.\- ]?" if c == "_" else c for c in word
    )


_WORD_START = r"(?:^|[^A-Za-z0-9]|(?<=[a-z0-9])(?=[A-Z]))"
_WORD_END = r"(?:$|[^a-z0-9])"
SETTING_KEY_PATTERN = (
    f"{_WORD_START}(?:{'|'.join(_any_case(w) for w in _SETTING_WORDS)})[sS]?{_WORD_END}"
    f"|{'|'.join(_any_case(p) for p in _SETTING_PHRASES)}"
)
"""Settings keys that name a credential (the manifest, and its JSON Schema for editors)."""
_SETTING_KEY = re.compile(SETTING_KEY_PATTERN)


def is_credential_setting_key(key: str) -> bool:
    """Whether a manifest settings key names a credential (``password``, ``clientSecret`` …)."""
    return bool(_SETTING_KEY.search(key))


# --- env var names of a run's pod ------------------------------------------------------------

ENV_NAME_PATTERN = re.compile("|".join((*CORE_WORDS, "_key$")), re.IGNORECASE)
"""Env var names that mark a credential (``*PASSWORD*``, ``*TOKEN*``, ``*SECRET*``, ``*_KEY``)."""


def is_credential_env_name(name: str) -> bool:
    """Whether an env var's name marks it as a credential (``DB_PASSWORD``, ``AWS_ACCESS_KEY``)."""
    return bool(ENV_NAME_PATTERN.search(name))


# --- keys whose values masking hides ---------------------------------------------------------

_MASKED_KEY_KINDS = ("api", "private", "access")  # api_key, apiKey, privatekey …
MASKED_KEY_PATTERN = re.compile(
    "("
    + "|".join(
        (*CORE_WORDS, "passwd", "credential", "auth", *(f"{k}_?key" for k in _MASKED_KEY_KINDS))
    )
    + ")",
    re.IGNORECASE,
)
"""Keys under which masking hides any value, whatever its text (substrings, any case)."""


# --- dbt adapter settings --------------------------------------------------------------------

_DBT_WORDS = frozenset(
    {*CORE_WORDS, "passwd", "pwd", "passphrase", "credential", "keyfile", "apikey"}
    | {"secrets", "credentials"}  # the plurals adapters use (BigQuery keyfile_json credentials)
)
_DBT_SUFFIXES = ("_key", "_key_id", "_json")
_DBT_NOT_CREDENTIALS = frozenset({"token_uri"})
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")


def is_dbt_setting_name(name: str) -> bool:
    """Whether a dbt adapter setting's name reads like a credential (``password``, ``api_key``)."""
    lowered = name.lower()
    if lowered in _DBT_NOT_CREDENTIALS:
        return False
    words = set(_NOT_ALNUM.split(lowered))
    return bool(words & _DBT_WORDS) or lowered.endswith(_DBT_SUFFIXES)
