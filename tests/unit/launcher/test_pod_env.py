"""Pure pod-spec building: which secrets, in which order, with which prefix; the checks."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from floe_dagster_secrets.errors import InvalidSecretReferenceError, SecretNotFoundError
from floe_dagster_secrets.kube.pod_spec import RunPodContribution
from floe_dagster_secrets.launcher.pod_env import (
    PROFILES_VOLUME,
    PodSecretsSettings,
    env_from_entries,
    fingerprint,
    format_refs_tag,
    is_credential_name,
    literal_credential_env,
    literal_credential_error,
    literal_credentials_in_config,
    literal_instance_credentials_error,
    parse_refs_tag,
    pod_contribution,
    preflight_errors,
    profiles_dir_conflict,
    profiles_mount,
    run_k8s_config,
    run_secret_names,
    service_account_conflict,
)
from floe_dagster_secrets.types import SecretMetadata


def _meta(name: str, *keys: str, version: str = "7") -> SecretMetadata:
    return SecretMetadata(name=name, namespace="ns", backend="k8s", keys=keys, version=version)


def test_platform_first_in_config_order_then_asset_secrets_sorted_and_deduplicated() -> None:
    names = run_secret_names(
        ["polaris-oauth-credentials", "cube-jwt-key"],
        [("snowflake-prod-credentials",), ("cube-jwt-key", "api-sales-secret"), ()],
    )
    assert names == (
        "polaris-oauth-credentials",
        "cube-jwt-key",
        "api-sales-secret",
        "snowflake-prod-credentials",
    )


@given(st.lists(st.lists(st.sampled_from(["a-x-key", "b-x-key", "c-x-key"]), max_size=3)))
def test_order_of_assets_does_not_change_the_result(groups: list[list[str]]) -> None:
    assert run_secret_names([], groups) == run_secret_names([], list(reversed(groups)))


def test_refs_tag_round_trip_and_absent_tag() -> None:
    assert parse_refs_tag(format_refs_tag(["a-b-key", "c-d-key"])) == ("a-b-key", "c-d-key")
    assert parse_refs_tag(None) == ()
    assert parse_refs_tag(" a-b-key, ,a-b-key") == ("a-b-key",)


def test_env_from_prefix_only_where_configured() -> None:
    entries = env_from_entries(
        ["duck-dev-credentials", "api-x-secret", "duck-dev-credentials"],
        {"duck-dev-credentials": "DBT_ENV_SECRET_"},
    )
    assert entries == [
        {"secret_ref": {"name": "duck-dev-credentials"}, "prefix": "DBT_ENV_SECRET_"},
        {"secret_ref": {"name": "api-x-secret"}},
    ]


def test_run_k8s_config_mounts_the_configured_profiles_and_no_values() -> None:
    settings = PodSecretsSettings(
        prefixes={"duck-dev-credentials": "DBT_ENV_SECRET_"}, profiles_config_map="dbt-profiles"
    )
    contribution = pod_contribution(
        ["duck-dev-credentials"], platform_secrets=(), backend=None, settings=settings
    )
    config = run_k8s_config(contribution, settings)
    container, pod = config["container_config"], config["pod_spec_config"]
    assert container["env_from"] == [
        {"secret_ref": {"name": "duck-dev-credentials"}, "prefix": "DBT_ENV_SECRET_"}
    ]
    assert container["env"] == [{"name": "DBT_PROFILES_DIR", "value": "/opt/floe/dbt-profiles"}]
    assert container["volume_mounts"] == [
        {"name": PROFILES_VOLUME, "mount_path": "/opt/floe/dbt-profiles", "read_only": True}
    ]
    assert pod == {"volumes": [{"name": PROFILES_VOLUME, "config_map": {"name": "dbt-profiles"}}]}


def test_nothing_configured_adds_nothing_not_even_a_service_account() -> None:
    """Drop-in (issue 20 a, b): no profiles volume, no DBT_PROFILES_DIR, no service account."""
    settings = PodSecretsSettings()
    config = run_k8s_config(
        pod_contribution([], platform_secrets=(), backend=None, settings=settings), settings
    )
    assert config == {"container_config": {}, "pod_spec_config": {}}


def test_a_required_account_is_set_only_when_the_user_set_none() -> None:
    required = RunPodContribution(
        service_account_name="floe-job-runner", service_account_reason="r"
    )
    settings = PodSecretsSettings()
    assert run_k8s_config(required, settings)["pod_spec_config"] == {
        "service_account_name": "floe-job-runner"
    }
    assert run_k8s_config(required, settings, current_service_account="theirs") == {
        "container_config": {},
        "pod_spec_config": {},
    }


def test_service_account_conflict_names_both_and_the_fix() -> None:
    required = RunPodContribution(
        service_account_name="floe-job-runner",
        service_account_reason="the Vault role 'floe' is bound to 'floe-job-runner'",
    )
    error = service_account_conflict(
        required, "team-a-runner", where="set in the run's tag", backend="vault"
    )
    assert error is not None
    text = str(error)
    assert "'team-a-runner'" in text
    assert "'floe-job-runner'" in text
    assert "'vault' secrets backend" in text
    assert "no Job was created" in text
    assert "service_account_name: team-a-runner" in text
    assert error.backend == "vault"
    assert service_account_conflict(required, None, where="x", backend="vault") is None
    assert service_account_conflict(required, "floe-job-runner", where="x", backend="v") is None
    free = RunPodContribution()
    assert service_account_conflict(free, "anyone", where="x", backend="k8s") is None


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("DB_PASSWORD", True),
        ("password_file", True),
        ("GITHUB_TOKEN", True),
        ("CLIENT_SECRET_X", True),
        ("AWS_ACCESS_KEY", True),
        ("KEYCLOAK_URL", False),
        ("DBT_PROFILES_DIR", False),
        ("MONKEY", False),
    ],
)
def test_credential_names(name: str, expected: bool) -> None:
    assert is_credential_name(name) is expected


def test_literal_credentials_found_in_main_and_sidecar_containers_refs_allowed() -> None:
    user = {
        "container_config": {
            "env": [
                {"name": "DB_PASSWORD", "value": "hunter2"},
                {"name": "API_TOKEN", "value_from": {"secret_key_ref": {"name": "s", "key": "k"}}},
                {"name": "MODE", "value": "prod"},
            ]
        },
        "pod_spec_config": {
            "containers": [{"name": "side", "env": [{"name": "X_KEY", "value": "v"}]}]
        },
    }
    assert literal_credential_env(user) == ["DB_PASSWORD", "X_KEY"]
    error = literal_credential_error(["DB_PASSWORD"], tag="dagster-k8s/config")
    assert isinstance(error, InvalidSecretReferenceError)
    assert "hunter2" not in str(error)
    assert "floe secrets create" in str(error)


def test_fingerprint_is_keyed_hmac_over_name_and_version_not_a_plain_hash() -> None:
    value = fingerprint(b"k1", namespace="ns", name="a-b-key", version="42")
    expected = hmac.new(b"k1", b"ns/a-b-key@42", hashlib.sha256).hexdigest()[:32]
    assert value == f"hmac-sha256:{expected}"
    assert value != fingerprint(b"k2", namespace="ns", name="a-b-key", version="42")
    assert value != fingerprint(b"k1", namespace="ns", name="a-b-key", version="43")
    plain = hashlib.sha256(b"ns/a-b-key@42").hexdigest()[:32]
    assert plain not in value


def test_preflight_names_missing_secret_and_missing_keys_with_the_fix() -> None:
    errors = preflight_errors(
        {"duck-dev-credentials": ("DUCKDB_ENCRYPTION_KEY",), "api-x-secret": ()},
        {"duck-dev-credentials": _meta("duck-dev-credentials", "OTHER")},
        namespace="floe-jobs",
    )
    assert [type(e) for e in errors] == [SecretNotFoundError, SecretNotFoundError]
    lacking, missing = (str(e) for e in errors)
    assert "lacks key(s) DUCKDB_ENCRYPTION_KEY" in lacking
    assert "(it has: OTHER)" in lacking
    assert "secret 'duck-dev-credentials'" in lacking
    assert "Secret 'api-x-secret' that this run needs does not exist" in missing
    assert "namespace 'floe-jobs'" in missing
    assert "floe secrets create api-x-secret --namespace floe-jobs" in missing


def test_preflight_judges_a_secret_floe_did_not_write_by_its_key_count() -> None:
    required = {"pg-prod-credentials": ("POSTGRES_USER", "POSTGRES_PASSWORD")}
    short = dataclasses.replace(
        _meta("pg-prod-credentials"), keys=(), keys_known=False, key_count=1
    )
    [error] = preflight_errors(required, {"pg-prod-credentials": short}, namespace="floe-jobs")
    text = str(error)
    assert (
        "Secret 'pg-prod-credentials' has 1 key, the manifest requires 2 (POSTGRES_USER, "
        "POSTGRES_PASSWORD); key names of a Secret floe did not write are not visible without "
        "reading values; no Job was created"
    ) in text
    assert "floe secrets rotate pg-prod-credentials --from-env-file FILE" in text
    enough = dataclasses.replace(short, key_count=2)
    assert preflight_errors(required, {"pg-prod-credentials": enough}, namespace="n") == []


def test_preflight_passes_when_everything_is_there() -> None:
    found = {"duck-dev-credentials": _meta("duck-dev-credentials", "DUCKDB_ENCRYPTION_KEY", "X")}
    assert (
        preflight_errors({"duck-dev-credentials": ("DUCKDB_ENCRYPTION_KEY",)}, found, namespace="n")
        == []
    )


def test_literal_credentials_in_instance_config_are_found_references_are_not() -> None:
    config = {
        "storage": {
            "postgres": {
                "postgres_db": {"username": "dagster", "password": "hunter2-literal"},
            }
        },
        "other": {"postgres_url": "postgresql://dagster:hunter2@db:5432/d"},
        "run_launcher": {
            "config": {
                "postgres_password_secret": "dagster-postgresql-secret",
                "fingerprint_key_env": "FLOE_LAUNCHER_FINGERPRINT_KEY",
                "env_secrets": ["snowflake-prod-credentials"],
                "env_vars": ["DBT_SEND_ANONYMOUS_USAGE_STATS=false", "API_TOKEN=abc", "X_TOKEN"],
                "api_token": {"env": "API_TOKEN"},
            }
        },
    }
    assert literal_credentials_in_config(config) == [
        "storage.postgres.postgres_db.password",
        "other.postgres_url",
        "run_launcher.config.env_vars[1]",
    ]
    error = literal_instance_credentials_error(["storage.postgres.postgres_db.password"])
    assert "hunter2" not in str(error)
    assert "{env: DAGSTER_PG_PASSWORD}" in str(error)


@pytest.mark.parametrize(
    ("explicit", "current", "mounted", "conflict"),
    [
        (False, None, True, False),  # implied, the pod has no profiles dir: mounted
        (False, "/opt/floe/dbt-profiles", True, False),  # the same dir: mounted, no second var
        (False, "/app/profiles", False, False),  # implied, theirs elsewhere: theirs, nothing added
        (True, None, True, False),
        (True, "/app/profiles", True, True),  # set against theirs: refused before the Job
    ],
)
def test_the_profiles_config_map_never_overrides_a_profiles_dir_the_user_set(
    explicit: bool, current: str | None, mounted: bool, conflict: bool
) -> None:
    settings = PodSecretsSettings(profiles_config_map="dbt-profiles", profiles_explicit=explicit)
    assert profiles_mount(settings, current) is mounted
    assert (profiles_dir_conflict(settings, current) is not None) is conflict
    config = run_k8s_config(RunPodContribution(), settings, current_profiles_dir=current)
    ours = [e for e in config["container_config"].get("env", []) if e["name"] == "DBT_PROFILES_DIR"]
    assert ours == (
        []
        if current or not mounted
        else [{"name": "DBT_PROFILES_DIR", "value": "/opt/floe/dbt-profiles"}]
    )
    assert ("volumes" in config["pod_spec_config"]) is mounted
