"""ADR-0023's own manifests validate unchanged (issue 14, point 1 and "What must hold").

The fixtures in ``tests/adr_examples/`` are the ADR's examples with the same keys and values.
None has ``environment:`` and the cloud-store ones have no compute plugin, so both are optional;
every rule that uses the environment still holds once it is resolved.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import jsonschema
import pytest
import yaml

from floe_dagster_secrets.errors import InvalidManifestError
from floe_dagster_secrets.manifest import (
    FloeNamingWarning,
    Manifest,
    load_manifest,
    manifest_json_schema,
)
from floe_dagster_secrets.manifest.environment import DEFAULT_ENVIRONMENT

EXAMPLES = Path(__file__).parents[2] / "adr_examples"

# (fixture, backend, store, secret names the manifest references)
ADR_MANIFESTS = [
    ("aws.manifest.yaml", "external-secrets", "aws-secrets-manager", []),
    ("gcp.manifest.yaml", "external-secrets", "gcp-secret-manager", []),
    ("azure.manifest.yaml", "external-secrets", "azure-keyvault", []),
    (
        "schema-k8s.manifest.yaml",
        "k8s",
        None,
        ["snowflake-credentials", "polaris-credentials", "salesforce-credentials"],
    ),
    (
        "schema-external-secrets.manifest.yaml",
        "external-secrets",
        "string",
        ["snowflake-credentials", "polaris-credentials", "salesforce-credentials"],
    ),
    (
        "schema-vault-kubernetes.manifest.yaml",
        "vault",
        None,
        ["snowflake-credentials", "polaris-credentials", "salesforce-credentials"],
    ),
]


def _load(path: Path, **kwargs: object) -> tuple[Manifest, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        manifest = load_manifest(path, **kwargs)  # type: ignore[arg-type]
    assert all(issubclass(w.category, FloeNamingWarning) for w in caught)
    return manifest, [str(w.message) for w in caught]


@pytest.mark.parametrize("name", [m[0] for m in ADR_MANIFESTS])
def test_adr_manifest_matches_the_json_schema(name: str) -> None:
    """Editors that read `floe manifest schema` accept the ADR's manifests too."""
    validator = jsonschema.Draft202012Validator(manifest_json_schema())
    assert [
        e.message for e in validator.iter_errors(yaml.safe_load((EXAMPLES / name).read_text()))
    ] == []


def test_fixtures_have_no_environment_key() -> None:
    for name, *_ in ADR_MANIFESTS:
        document = yaml.safe_load((EXAMPLES / name).read_text())
        assert "environment" not in document, name


@pytest.mark.parametrize(
    ("name", "backend", "store", "secrets"), ADR_MANIFESTS, ids=[m[0] for m in ADR_MANIFESTS]
)
def test_adr_manifest_validates_unchanged(
    name: str, backend: str, store: str | None, secrets: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FLOE_ENVIRONMENT", raising=False)
    manifest, messages = _load(EXAMPLES / name)
    assert manifest.plugins.secrets.type == backend
    assert getattr(manifest.plugins.secrets.config, "store", None) == store
    assert [ref.name for ref in manifest.secret_references()] == secrets
    # Nothing names an environment: the documented default, said to be one.
    assert (manifest.environment, manifest.environment_source) == (DEFAULT_ENVIRONMENT, "default")
    # The ADR's own names are off its naming convention: a warning (an error only with strict),
    # whose suggestion shows the convention's placeholder, not the default's name.
    assert len(messages) == len(secrets)
    for message in messages:
        assert "-{environment}-credentials" in message
        assert DEFAULT_ENVIRONMENT not in message


def test_adr_example_values_reach_the_model() -> None:
    aws, _ = _load(EXAMPLES / "aws.manifest.yaml")
    assert aws.plugins.secrets.config.region == "us-east-1"  # type: ignore[union-attr]
    gcp, _ = _load(EXAMPLES / "gcp.manifest.yaml")
    assert gcp.plugins.secrets.config.project == "my-gcp-project"  # type: ignore[union-attr]
    azure, _ = _load(EXAMPLES / "azure.manifest.yaml")
    assert azure.plugins.secrets.config.vault_url == (  # type: ignore[union-attr]
        "https://my-vault.vault.azure.net"
    )
    vault, _ = _load(EXAMPLES / "schema-vault-kubernetes.manifest.yaml")
    config = vault.plugins.secrets.config
    assert (config.address, config.role, config.mount_path, config.secret_path_prefix) == (  # type: ignore[union-attr]
        "https://vault.example.com",
        "floe",
        "kubernetes",
        "floe/",
    )
    eso, _ = _load(EXAMPLES / "schema-external-secrets.manifest.yaml")
    assert eso.plugins.secrets.config.refresh_interval == "1h"  # type: ignore[union-attr]
    assert eso.plugins.compute is not None
    assert eso.plugins.compute.type == "snowflake"
    assert eso.ingestion.pipelines[0].name == "salesforce-sync"


def test_approle_alternative_says_what_to_add() -> None:
    """``auth_method: approle`` needs two names the ADR does not show; the error says which."""
    with pytest.raises(InvalidManifestError) as info:
        _load(EXAMPLES / "schema-vault-approle.manifest.yaml")
    text = str(info.value)
    assert "plugins.secrets.config.role_id_env: approle auth needs role_id_env" in text
    assert "plugins.secrets.config.secret_id_env: approle auth needs secret_id_env" in text


@pytest.mark.parametrize(
    ("source", "environment", "origin"),
    [
        ("--environment", "prod", "--environment"),
        ("FLOE_ENVIRONMENT", "staging", "$FLOE_ENVIRONMENT"),
    ],
)
def test_environment_from_outside(
    source: str,
    environment: str,
    origin: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("FLOE_ENVIRONMENT", raising=False)
    if source == "FLOE_ENVIRONMENT":
        monkeypatch.setenv("FLOE_ENVIRONMENT", environment)
        manifest, _ = _load(EXAMPLES / "schema-k8s.manifest.yaml")
    else:
        manifest, _ = _load(EXAMPLES / "schema-k8s.manifest.yaml", environment=environment)
    assert (manifest.environment, manifest.environment_source) == (environment, origin)


def test_environment_from_secret_names_keeps_the_cross_environment_rule(tmp_path: Path) -> None:
    text = (EXAMPLES / "schema-k8s.manifest.yaml").read_text()
    prod = tmp_path / "manifest.yaml"
    prod.write_text(
        text.replace("snowflake-credentials", "snowflake-prod-credentials").replace(
            "salesforce-credentials", "salesforce-prod-credentials"
        )
    )
    manifest, _ = _load(prod)
    assert (manifest.environment, manifest.environment_source) == ("prod", "the secret names")
    # Told it is dev, the prod-named secrets are errors, as with `environment: dev`.
    with pytest.raises(InvalidManifestError) as info:
        _load(prod, environment="dev")
    assert (
        "secret 'snowflake-prod-credentials' belongs to environment prod, but this manifest is "
        "for 'dev' (from --environment): secrets MUST NOT be shared across environments"
    ) in str(info.value)
    # Names of two environments in one manifest: no environment can be inferred, and the
    # message says what to write.
    mixed = tmp_path / "mixed.yaml"
    mixed.write_text(prod.read_text().replace("polaris-credentials", "polaris-dev-credentials"))
    with pytest.raises(InvalidManifestError) as info:
        _load(mixed)
    assert "environment: not given, and the secret names belong to several environments: prod" in (
        str(info.value)
    )
    assert "Write the line `environment: prod` at the top of the manifest" in str(info.value)


def test_explicit_environment_must_agree_with_the_manifest(tmp_path: Path) -> None:
    path = tmp_path / "manifest.yaml"
    path.write_text("environment: prod\n" + (EXAMPLES / "schema-k8s.manifest.yaml").read_text())
    manifest, _ = _load(path, environment="production")  # an alias is the same environment
    assert manifest.environment == "prod"
    with pytest.raises(InvalidManifestError) as info:
        _load(path, environment="dev")
    assert "the manifest says environment 'prod' but --environment says 'dev'" in str(info.value)
    with pytest.raises(InvalidManifestError) as info:
        _load(path, environment="Prod")
    assert "--environment gives an environment that is not a valid DNS-1123 label" in str(
        info.value
    )


def test_file_name_gives_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLOE_ENVIRONMENT", raising=False)
    path = tmp_path / "manifest.staging.yaml"
    path.write_text((EXAMPLES / "aws.manifest.yaml").read_text())
    manifest, _ = _load(path)
    assert (manifest.environment, manifest.environment_source) == (
        "staging",
        "the file name manifest.staging.yaml",
    )


def test_no_compute_plugin_is_asked_for_where_needed() -> None:
    manifest, _ = _load(EXAMPLES / "aws.manifest.yaml")
    with pytest.raises(InvalidManifestError) as info:
        manifest.require_compute("render a dbt profile")
    assert "the manifest has no plugins.compute, which floe needs to render a dbt profile" in str(
        info.value
    )
    assert "compute: {type: snowflake, connection_secret_ref: snowflake-credentials}" in str(
        info.value
    )


# Rendering what each example implies (issue 14, point 4: ExternalSecrets and
# ClusterSecretStores from the manifest) belongs here, beside the validation above: for each of
# ADR_MANIFESTS, render and compare with tests/adr_examples/*.externalsecret.yaml and
# clustersecretstores.yaml (the ADR's objects, copied unchanged).
