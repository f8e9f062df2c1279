"""The kube-apiserver audit policy floe ships: every secret access logged, never a value.

ADR-0023 says deployments MUST audit secret access via Kubernetes audit logs. The policy in
``apiserver-audit-policy.yaml`` (package data, printed by ``floe secrets audit-policy``) logs each
request at ``Metadata`` level: who read which Secret, when, with which verb and result. Secrets,
ConfigMaps, service-account tokens, token reviews and External Secrets objects get an explicit
``Metadata`` rule ahead of everything else: ``Request`` or ``RequestResponse`` would write their
bodies, which are the values, into the audit log. :func:`secret_levels` lets a test hold the file
to that promise.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import yaml

__all__ = ["BODY_LEVELS", "POLICY_FILE", "policy_text", "secret_levels"]

POLICY_FILE = "apiserver-audit-policy.yaml"
"""File name of the policy inside ``floe_dagster_secrets.kube``."""

BODY_LEVELS = frozenset({"Request", "RequestResponse"})
"""Audit levels that write request or response bodies."""

_SECRET_RESOURCES = (
    ("", "secrets"),
    ("", "configmaps"),
    ("", "serviceaccounts/token"),
    ("authentication.k8s.io", "tokenreviews"),
    ("external-secrets.io", "externalsecrets"),
)


def policy_text() -> str:
    """The audit policy, as shipped in the package (YAML, with comments)."""
    return resources.files("floe_dagster_secrets.kube").joinpath(POLICY_FILE).read_text("utf-8")


def _matches(rule: dict[str, Any], group: str, resource: str) -> bool:
    """Whether an audit rule applies to a request for ``group``/``resource`` (any user, verb)."""
    if rule.get("nonResourceURLs"):
        return False
    selectors = rule.get("resources")
    if not selectors:
        return True  # no resource selector: every request
    for selector in selectors:
        if selector.get("group", "") != group:
            continue
        names = selector.get("resources") or ["*"]
        if resource in names or "*" in names or f"{resource.split('/')[0]}/*" in names:
            return True
    return False


def secret_levels(policy: str | None = None) -> dict[str, str]:
    """The level the apiserver applies to each secret-bearing resource under ``policy``.

    The apiserver uses the first rule that matches; a resource no rule matches is not logged
    (``None``). Args: ``policy`` defaults to the shipped one.
    """
    document = yaml.safe_load(policy if policy is not None else policy_text())
    rules: list[dict[str, Any]] = document.get("rules") or []
    levels: dict[str, str] = {}
    for group, resource in _SECRET_RESOURCES:
        first = next((rule for rule in rules if _matches(rule, group, resource)), None)
        levels[f"{group or 'core'}/{resource}"] = str(first["level"]) if first else "None"
    return levels
