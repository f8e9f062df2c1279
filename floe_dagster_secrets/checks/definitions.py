"""``floe_secrets`` asset checks: the secrets each asset needs exist, are complete and fresh.

For every asset whose metadata names secrets under ``floe/secrets``, one check ``floe_secrets``
reads those secrets' metadata through the secrets resource (``describe_secret``, never values)
and fails with severity ERROR when one is missing or lacks a required key, WARN when one is older
than its policy's ``max_age_days``. ``age_days`` and ``max_age_days`` are numeric metadata, so
the check's Plots panel in the UI draws the secret's age over time against its limit.

No ``from __future__ import annotations`` here: Dagster inspects the check function's ``context``
annotation at definition time and rejects a string.
"""

from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime

import dagster as dg

from floe_dagster_secrets.asset_metadata import secrets_from_metadata
from floe_dagster_secrets.checks.evaluate import (
    SecretFinding,
    evaluate,
    requirement_for,
    summarize,
)
from floe_dagster_secrets.errors import (
    FloeSecretsError,
    SecretAccessDeniedError,
    SecretNotFoundError,
)
from floe_dagster_secrets.manifest import Manifest
from floe_dagster_secrets.resources.base import FloeSecretsResource

CHECK_NAME = "floe_secrets"


def _specs(assets_or_specs: Iterable[dg.AssetsDefinition | dg.AssetSpec]) -> list[dg.AssetSpec]:
    specs: list[dg.AssetSpec] = []
    for item in assets_or_specs:
        specs.extend([item] if isinstance(item, dg.AssetSpec) else item.specs)
    return specs


def _find(resource: FloeSecretsResource, manifest: Manifest, name: str) -> SecretFinding:
    requirement = requirement_for(manifest, name)
    now = datetime.now(UTC)
    try:
        meta = resource.plugin().describe_secret(name, resource.namespace)
    except SecretNotFoundError:
        meta = None
    except SecretAccessDeniedError as e:
        return SecretFinding(requirement, "denied", detail=e.problem)
    except FloeSecretsError as e:
        # a store that cannot answer for this secret (a corrupt file, the backend down) fails
        # this secret's finding, not the checks of every other asset in the step
        return SecretFinding(requirement, "unreadable", detail=f"{e.problem}. Fix: {e.fix}")
    return evaluate(requirement, meta, now=now)


def _ages(findings: Sequence[SecretFinding]) -> dict[str, dg.MetadataValue]:
    """``age_days`` / ``max_age_days`` as numbers, for the check's Plots panel.

    An asset with several secrets plots its oldest secret's age against the strictest limit:
    the pair that decides when the check turns to WARN. Each secret's own age is added under
    ``age_days/<secret>`` when there are several.
    """
    ages = [f.age_days for f in findings if f.age_days is not None]
    limits = [f.requirement.max_age_days for f in findings if f.requirement.max_age_days]
    values: dict[str, dg.MetadataValue] = {}
    if ages:
        values["age_days"] = dg.MetadataValue.int(max(ages))
    if limits:
        values["max_age_days"] = dg.MetadataValue.int(min(limits))
    if len(findings) > 1:
        for f in findings:
            if f.age_days is not None:
                values[f"age_days/{f.requirement.name}"] = dg.MetadataValue.int(f.age_days)
    return values


def _result(key: dg.AssetKey, findings: Sequence[SecretFinding]) -> dg.AssetCheckResult:
    errors = any(f.is_error for f in findings)
    passed = all(f.status == "ok" for f in findings)
    return dg.AssetCheckResult(
        asset_key=key,
        check_name=CHECK_NAME,
        passed=passed,
        severity=dg.AssetCheckSeverity.ERROR if errors else dg.AssetCheckSeverity.WARN,
        description=summarize(findings),
        metadata={
            "secrets": dg.MetadataValue.text(", ".join(f.requirement.name for f in findings)),
            **_ages(findings),
            "findings": dg.MetadataValue.json([f.to_json() for f in findings]),
        },
    )


def secret_asset_checks(
    assets_or_specs: Iterable[dg.AssetsDefinition | dg.AssetSpec],
    *,
    manifest: Manifest,
    resource_key: str = "secrets",
) -> list[dg.AssetChecksDefinition]:
    """One ``floe_secrets`` check per asset that names secrets in its ``floe/secrets`` metadata.

    Args:
        assets_or_specs: Assets (or specs) to check; ones without ``floe/secrets`` get no check.
        manifest: Gives each secret's required keys (policy and dbt adapter) and max age.
        resource_key: Key of the :class:`FloeSecretsResource` in the Definitions.

    Returns:
        A list holding one multi-asset check definition (empty if no asset names a secret).
    """
    wanted = {
        spec.key: secrets_from_metadata(spec.metadata or {}) for spec in _specs(assets_or_specs)
    }
    wanted = {key: names for key, names in wanted.items() if names}
    if not wanted:
        return []
    check_specs = [
        dg.AssetCheckSpec(
            CHECK_NAME,
            asset=key,
            description=f"Secrets {', '.join(names)} exist, hold their keys and are fresh",
        )
        for key, names in wanted.items()
    ]

    @dg.multi_asset_check(
        specs=check_specs,
        name="floe_secrets_checks",
        required_resource_keys={resource_key},
        can_subset=True,
    )
    def floe_secrets_checks(
        context: dg.AssetCheckExecutionContext,
    ) -> Iterator[dg.AssetCheckResult]:
        resource: FloeSecretsResource = getattr(context.resources, resource_key)
        cache: dict[str, SecretFinding] = {}
        selected = context.selected_asset_check_keys
        for key, names in wanted.items():
            if dg.AssetCheckKey(key, CHECK_NAME) not in selected:
                continue
            for name in names:
                if name not in cache:
                    cache[name] = _find(resource, manifest, name)
            yield _result(key, [cache[name] for name in names])

    return [floe_secrets_checks]
