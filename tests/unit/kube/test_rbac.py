"""Pure rendering of ``floe secrets rbac``: names granted, components, refusals."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from floe_dagster_secrets.cli.app import cli
from floe_dagster_secrets.errors import InvalidManifestError
from floe_dagster_secrets.kube.rbac import Subject, render_objects, role
from floe_dagster_secrets.manifest import Manifest, parse_manifest

K8S = """\
environment: dev
plugins:
  secrets: {type: k8s, namespace: team-a}
  compute: {type: postgres, connection_secret_ref: warehouse-dev-credentials}
  catalog:
    type: polaris
    config: {uri: https://p.example.com, client_secret_ref: polaris-oauth-credentials}
"""


def _manifest(text: str) -> Manifest:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return parse_manifest(yaml.safe_load(text))


def test_job_runner_gets_exactly_the_referenced_names() -> None:
    objects = render_objects(_manifest(K8S), extra_secrets=["platform-extra-secret"])
    assert [o["kind"] for o in objects] == ["ServiceAccount", "Role", "RoleBinding"]
    (rule,) = objects[1]["rules"]
    assert rule == {
        "apiGroups": [""],
        "resources": ["secrets"],
        "resourceNames": [
            "warehouse-dev-credentials",
            "polaris-oauth-credentials",
            "platform-extra-secret",
        ],
        "verbs": ["get"],
    }
    assert {o["metadata"]["namespace"] for o in objects} == {"team-a"}
    assert objects[2]["subjects"] == [
        {"kind": "ServiceAccount", "name": "floe-job-runner", "namespace": "team-a"}
    ]


def test_vault_manifest_gets_the_account_but_no_secret_role() -> None:
    vault = K8S.replace(
        "{type: k8s, namespace: team-a}",
        "{type: vault, namespace: team-a, config: {address: https://vault.example.com}}",
    )
    assert [o["kind"] for o in render_objects(_manifest(vault))] == ["ServiceAccount"]


def test_sensor_and_launcher_bind_the_daemon_account_and_get_only_named_secrets() -> None:
    objects = render_objects(
        _manifest(K8S),
        components=["sensor", "launcher"],
        dagster_account=Subject.parse("dagster/dagster-daemon", default_namespace="team-a"),
    )
    roles = [o for o in objects if o["kind"] == "Role"]
    for r in roles:
        for rule in r["rules"]:
            # neither reads a Secret whole: the pre-flight lists metadata and Tables (issue 14)
            assert not ("secrets" in rule["resources"] and "get" in rule["verbs"]), r
    bindings = [o for o in objects if o["kind"] == "RoleBinding"]
    assert {b["subjects"][0]["namespace"] for b in bindings} == {"dagster"}


def test_external_secrets_adds_list_of_externalsecrets_to_sensor_and_launcher_only() -> None:
    eso = K8S.replace(
        "{type: k8s, namespace: team-a}",
        "{type: external-secrets, namespace: team-a, config: {store: vault-kv, provider: vault, "
        "vault_address: https://vault.example.com, vault_role: floe-eso}}",
    )
    objects = render_objects(_manifest(eso), components=["job-runner", "sensor", "launcher"])
    rule = {
        "apiGroups": ["external-secrets.io"],
        "resources": ["externalsecrets"],
        "verbs": ["list"],
    }
    granted = {o["metadata"]["name"] for o in objects if o["kind"] == "Role" and rule in o["rules"]}
    assert granted == {"floe-rotation-sensor", "floe-run-launcher"}
    k8s_only = render_objects(_manifest(K8S), components=["sensor", "launcher"])
    assert not any(rule in o.get("rules", []) for o in k8s_only)


def test_an_empty_resource_names_list_is_refused() -> None:
    rule = {"apiGroups": [""], "resources": ["secrets"], "resourceNames": [], "verbs": ["get"]}
    with pytest.raises(InvalidManifestError, match="every secret"):
        role("r", "team-a", "job-runner", [rule])


def test_cli_json_output_and_missing_manifest(tmp_path: Path) -> None:
    runner = CliRunner()
    manifest = tmp_path / "manifest.yaml"
    missing = runner.invoke(cli, ["secrets", "rbac", "--manifest", str(manifest)])
    assert missing.exit_code == 2
    assert "no manifest" in missing.output
    manifest.write_text(K8S)
    args = ["secrets", "rbac", "--manifest", str(manifest), "-o", "json", "--component", "restart"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    document = yaml.safe_load(result.output)
    assert document["kind"] == "List"
    assert [o["metadata"]["name"] for o in document["items"]] == [
        "floe-rotator",
        "floe-rotate-restart",
        "floe-rotate-restart",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-n", "Bad_NS"], "'Bad_NS' is not a valid namespace name"),
        (["--extra-secret", "Bad Name"], "--extra-secret 'Bad Name' is not a valid secret name"),
        (["--dagster-service-account", "a/b/c"], "'a/b/c' does not name a ServiceAccount"),
        (["--rotator-service-account", "Ops/rotator"], "'Ops/rotator' does not name"),
        (["-n", ""], "must not be empty"),
    ],
)
def test_names_kubectl_would_refuse_are_refused_before_anything_is_rendered(
    tmp_path: Path, args: list[str], message: str
) -> None:
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(K8S)
    result = CliRunner().invoke(
        cli, ["secrets", "rbac", "--manifest", str(manifest), "--component", "all", *args]
    )
    assert result.exit_code in (1, 2), result.output
    assert message in " ".join(result.stderr.split())
    assert "kind:" not in result.stdout


def test_a_service_account_without_a_namespace_takes_the_default() -> None:
    assert Subject.parse("dagster", default_namespace="team-a") == Subject("team-a", "dagster")
    assert Subject.parse("ops/dagster", default_namespace="team-a") == Subject("ops", "dagster")
