"""Asset checks that a secret an asset depends on exists, holds its keys and is fresh."""

from floe_dagster_secrets.checks.definitions import CHECK_NAME, secret_asset_checks
from floe_dagster_secrets.checks.evaluate import (
    SecretFinding,
    SecretRequirement,
    evaluate,
    requirement_for,
)

__all__ = [
    "CHECK_NAME",
    "SecretFinding",
    "SecretRequirement",
    "evaluate",
    "requirement_for",
    "secret_asset_checks",
]
