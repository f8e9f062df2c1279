"""The audit policy floe ships: Metadata for every secret-bearing resource, printed as shipped."""

from __future__ import annotations

import yaml
from click.testing import CliRunner

from floe_dagster_secrets.cli.app import cli
from floe_dagster_secrets.kube.audit_policy import BODY_LEVELS, policy_text, secret_levels


def test_secrets_are_audited_at_metadata_level_only() -> None:
    levels = secret_levels()
    assert levels == {
        "core/secrets": "Metadata",
        "core/configmaps": "Metadata",
        "core/serviceaccounts/token": "Metadata",
        "authentication.k8s.io/tokenreviews": "Metadata",
        "external-secrets.io/externalsecrets": "Metadata",
    }


def test_no_rule_writes_a_body() -> None:
    document = yaml.safe_load(policy_text())
    assert document["apiVersion"] == "audit.k8s.io/v1"
    assert document["kind"] == "Policy"
    assert {rule["level"] for rule in document["rules"]} <= {"None", "Metadata"}
    assert not {rule["level"] for rule in document["rules"]} & BODY_LEVELS


def test_a_body_level_for_secrets_would_be_caught() -> None:
    """secret_levels applies the apiserver's first-match rule, so a bad edit shows."""
    leaky = """\
apiVersion: audit.k8s.io/v1
kind: Policy
rules:
  - level: RequestResponse
    resources: [{group: "", resources: ["secrets"]}]
  - level: Metadata
"""
    assert secret_levels(leaky)["core/secrets"] == "RequestResponse"
    catch_all = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: Request}]\n"
    assert set(secret_levels(catch_all).values()) == {"Request"}
    assert set(secret_levels("rules: []").values()) == {"None"}


def test_cli_prints_the_policy_file_unchanged() -> None:
    result = CliRunner().invoke(cli, ["secrets", "audit-policy"])
    assert result.exit_code == 0, result.output
    assert result.output == policy_text()
    assert "floe secrets audit-policy" in result.output
