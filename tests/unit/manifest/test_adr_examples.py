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
    VaultSecretsConfig,
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
    (
        "schema-vault-approle.manifest.yaml",
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


def test_approle_alternative_validates_with_the_conventional_env_names() -> None:
    """``auth_method: approle`` as the ADR writes it: role_id/secret_id from the usual variables."""
    manifest, _ = _load(EXAMPLES / "schema-vault-approle.manifest.yaml")
    config = manifest.plugins.secrets.config
    assert isinstance(config, VaultSecretsConfig)
    assert (config.auth_method, config.role_id_env, config.secret_id_env) == (
        "approle",
        "VAULT_ROLE_ID",
        "VAULT_SECRET_ID",
    )


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


# --- Rendering what each example implies (issue 14, point 4) -------------------------------------
# Each ADR manifest, with only the secrets.<name>.remote mapping added that says what the ADR's
# ExternalSecret beside it says, renders the ADR's ClusterSecretStore and ExternalSecret. The
# differences allowed are documented ones: apiVersion v1 (ESO 0.17+ no longer serves v1beta1),
# floe's managed-by label, and target.creationPolicy written out as Owner (ESO's default) where
# the ADR leaves it out.

ADR_MAPPINGS = {
    "aws.manifest.yaml": (
        "aws.externalsecret.yaml",
        "secrets:\n"
        "  snowflake-credentials:\n"
        "    remote:\n"
        "      key: floe/prod/snowflake\n"
        "      properties:\n"
        "        SNOWFLAKE_ACCOUNT: account\n"
        "        SNOWFLAKE_USER: user\n"
        "        SNOWFLAKE_PASSWORD: password\n",
    ),
    "gcp.manifest.yaml": (
        "gcp.externalsecret.yaml",
        "secrets:\n"
        "  bigquery-credentials:\n"
        "    remote: {key: floe-bigquery-sa, whole: GOOGLE_APPLICATION_CREDENTIALS_JSON}\n",
    ),
    "azure.manifest.yaml": (
        "azure.externalsecret.yaml",
        "secrets:\n"
        "  synapse-credentials:\n"
        "    remote: {key: floe-synapse-connection, whole: SYNAPSE_CONNECTION_STRING}\n",
    ),
}


def _adr_objects(name: str) -> list[dict[str, object]]:
    return [doc for doc in yaml.safe_load_all((EXAMPLES / name).read_text()) if doc]


def _as_the_adr_writes_it(rendered: dict, adr: dict) -> dict:  # type: ignore[type-arg]
    """``rendered`` with the documented differences undone, to compare with ``adr``."""
    import copy

    obj = copy.deepcopy(rendered)
    obj["apiVersion"] = adr["apiVersion"]
    labels = obj["metadata"].pop("labels")
    assert labels == {"app.kubernetes.io/managed-by": "floe"}
    target = obj.get("spec", {}).get("target")
    if target is not None and "creationPolicy" not in adr["spec"]["target"]:
        assert target.pop("creationPolicy") == "Owner"
    return obj


def _plan(path: Path):  # type: ignore[no-untyped-def]
    from floe_dagster_secrets.cli.eso_apply import eso_plan

    manifest, _ = _load(path)
    return eso_plan(manifest, manifest.plugins.secrets.namespace)


@pytest.mark.parametrize("name", sorted(ADR_MAPPINGS))
def test_adr_cloud_example_renders_the_adrs_objects(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FLOE_ENVIRONMENT", raising=False)
    external_secret, mapping = ADR_MAPPINGS[name]
    path = tmp_path / "manifest.yaml"
    path.write_text((EXAMPLES / name).read_text() + mapping)
    plan = _plan(path)
    assert plan.notes == []
    store, rendered = plan.objects
    (adr_es,) = _adr_objects(external_secret)
    assert _as_the_adr_writes_it(rendered, adr_es) == adr_es
    adr_store = next(
        s
        for s in _adr_objects("clustersecretstores.yaml")
        if s["metadata"]["name"] == store["metadata"]["name"]  # type: ignore[index]
    )
    rendered_store = _as_the_adr_writes_it(store, adr_store)
    if name == "gcp.manifest.yaml":
        # The ADR's GCP manifest has no cluster fields, its store does: the store rendered from
        # the manifest unchanged lacks exactly those two, and has them once they are written.
        identity = adr_store["spec"]["provider"]["gcpsm"]["auth"]["workloadIdentity"]  # type: ignore[index]
        assert rendered_store["spec"]["provider"]["gcpsm"]["auth"]["workloadIdentity"] == {
            "serviceAccountRef": identity["serviceAccountRef"]
        }
        path.write_text(
            path.read_text().replace(
                "      project: my-gcp-project\n",
                "      project: my-gcp-project\n"
                "      cluster_location: us-central1\n"
                "      cluster_name: my-cluster\n",
            )
        )
        rendered_store = _as_the_adr_writes_it(_plan(path).objects[0], adr_store)
    assert rendered_store == adr_store


def test_adr_schema_example_renders_what_it_can_and_says_what_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The schema example names a store 'string' of no known provider and two secrets whose
    keys it does not say: each is named in a note with what to write; the Snowflake secret is
    rendered in the default layout with the keys dbt's adapter needs."""
    monkeypatch.delenv("FLOE_ENVIRONMENT", raising=False)
    plan = _plan(EXAMPLES / "schema-external-secrets.manifest.yaml")
    (rendered,) = plan.objects
    assert rendered["metadata"]["name"] == "snowflake-credentials"
    data = rendered["spec"]["data"]
    assert {d["secretKey"] for d in data} >= {"SNOWFLAKE_ACCOUNT", "SNOWFLAKE_PASSWORD"}
    assert {d["remoteRef"]["key"] for d in data} == {"floe/floe-jobs/snowflake-credentials"}
    assert all(d["remoteRef"]["property"] == d["secretKey"] for d in data)
    notes = "\n".join(plan.notes)
    assert "ClusterSecretStore 'string' is not rendered" in notes
    assert "plugins.secrets.config.provider" in notes
    for secret in ("polaris-credentials", "salesforce-credentials"):
        assert f"Add secrets.{secret}.remote" in notes


@pytest.mark.parametrize(
    "name", ["schema-k8s.manifest.yaml", "schema-vault-kubernetes.manifest.yaml"]
)
def test_adr_k8s_and_vault_examples_render_their_rbac_not_eso(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the k8s and vault examples imply is RBAC for the job runner, not ESO objects."""
    from floe_dagster_secrets.kube import rbac

    monkeypatch.delenv("FLOE_ENVIRONMENT", raising=False)
    with pytest.raises(InvalidManifestError, match="implies no ESO objects"):
        _plan(EXAMPLES / name)
    manifest, _ = _load(EXAMPLES / name)
    kinds = [obj["kind"] for obj in rbac.render_objects(manifest)]
    assert kinds == (
        ["ServiceAccount", "Role", "RoleBinding"] if "k8s" in name else ["ServiceAccount"]
    )


def test_remote_mapping_errors_say_what_to_write(tmp_path: Path) -> None:
    base = (EXAMPLES / "aws.manifest.yaml").read_text()
    path = tmp_path / "manifest.yaml"
    path.write_text(base + "secrets:\n  x-prod-credentials:\n    remote: {key: floe/x}\n")
    with pytest.raises(InvalidManifestError) as info:
        _load(path)
    assert "maps no key: add properties (env key: property) or whole: ENV_KEY" in str(info.value)
    path.write_text(
        base + "secrets:\n  x-prod-credentials:\n    keys: [A]\n"
        "    remote: {key: floe/x, whole: B}\n"
    )
    with pytest.raises(InvalidManifestError) as info:
        _load(path)
    assert "keys (A) and the keys remote maps (B) differ" in str(info.value)
