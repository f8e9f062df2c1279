"""Test-only code location: assets that each need a different secret (least-privilege proof).

Each asset checks, inside the run worker of the Job's pod on the test node, that its own
secret's variable is set and that no other asset's is: a run for ``alpha`` must not see ``beta``'s
token. Values are never logged; only whether a variable is present.
"""

import os

from dagster import AssetExecutionContext, Definitions, Failure, asset, define_asset_job

from floe_dagster_secrets.launcher import floe_k8s_job_executor
from floe_dagster_secrets.resources import secrets_metadata

TOKENS = {
    "alpha": ("alpha-app-credentials", "ALPHA_TOKEN"),
    "beta": ("beta-app-credentials", "BETA_TOKEN"),
    "gamma": ("gamma-app-credentials", "GAMMA_TOKEN"),  # exists, lacks its key
    "delta": ("delta-app-credentials", "DELTA_TOKEN"),  # never created
}


def _check(context: AssetExecutionContext, mine: str) -> None:
    """Exactly the tokens of the assets this run (or, in a step pod, this step) needs are set."""
    if os.environ.get("DAGSTER_RUN_STEP_KEY"):  # a step pod of floe_k8s_job_executor
        selected = set()
    else:
        selected = {key.to_user_string() for key in context.run.asset_selection or ()}
    expected = sorted(TOKENS[name][1] for name in selected | {mine})
    present = sorted(var for _, var in TOKENS.values() if os.environ.get(var))
    context.log.info(f"token variables present: {present}")
    if present != expected:
        raise Failure(description=f"expected exactly {expected}, found {present}")


@asset(metadata=secrets_metadata([TOKENS["alpha"][0]]))
def alpha(context: AssetExecutionContext) -> int:
    _check(context, "alpha")
    return 1


@asset(metadata=secrets_metadata([TOKENS["beta"][0]]))
def beta(context: AssetExecutionContext) -> int:
    _check(context, "beta")
    return 2


@asset(metadata=secrets_metadata([TOKENS["gamma"][0]]))
def gamma(context: AssetExecutionContext) -> int:
    _check(context, "gamma")
    return 3


@asset(metadata=secrets_metadata([TOKENS["delta"][0]]))
def delta(context: AssetExecutionContext) -> int:
    _check(context, "delta")
    return 4


# Each step in its own pod: the step for alpha must get alpha's secret only, beta's beta's.
step_scoped_job = define_asset_job(
    "step_scoped_job", selection=["alpha", "beta"], executor_def=floe_k8s_job_executor
)

defs = Definitions(assets=[alpha, beta, gamma, delta], jobs=[step_scoped_job])
