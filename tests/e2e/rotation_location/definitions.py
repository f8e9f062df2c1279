"""Test-only code location: two assets on two Kubernetes secrets, watched by the rotation sensor.

Each asset runs in a Job pod on the test node, reads its token from the environment the
Job's ``envFrom`` gave it, and writes only the token's SHA-256 to ``$FLOE_E2E_DIGEST_DIR/<run>``,
so the test can tell which value a run used without the value being written anywhere.
"""

import hashlib
import os
from pathlib import Path

from dagster import (
    AssetExecutionContext,
    DefaultSensorStatus,
    Definitions,
    EnvVar,
    Failure,
    asset,
    define_asset_job,
)

from floe_dagster_secrets.resources import K8sSecretsResource, secrets_metadata
from floe_dagster_secrets.sensors import make_secret_rotation_sensor

ROTATING = ("rotating-app-credentials", "ROTATING_TOKEN")
STEADY = ("steady-app-credentials", "STEADY_TOKEN")
KUBECONFIG_VAR = "FLOE_E2E_ROTATION_KUBECONFIG"
NAMESPACE_VAR = "FLOE_E2E_ROTATION_NAMESPACE"


def _record(context: AssetExecutionContext, variable: str) -> None:
    value = os.environ.get(variable)
    if not value:
        raise Failure(description=f"{variable} is not set in the run worker")
    digest = hashlib.sha256(value.encode()).hexdigest()
    out = Path(os.environ["FLOE_E2E_DIGEST_DIR"]) / f"{context.run.run_id}.{variable}"
    out.write_text(digest)


@asset(metadata=secrets_metadata([ROTATING[0]]))
def rotating_report(context: AssetExecutionContext) -> int:
    _record(context, ROTATING[1])
    return 1


@asset(metadata=secrets_metadata([STEADY[0]]))
def steady_report(context: AssetExecutionContext) -> int:
    _record(context, STEADY[1])
    return 2


reports_job = define_asset_job("reports_job", selection=[rotating_report, steady_report])

defs = Definitions(
    assets=[rotating_report, steady_report],
    jobs=[reports_job],
    sensors=[
        make_secret_rotation_sensor(target=reports_job, default_status=DefaultSensorStatus.RUNNING)
    ],
    resources={
        "secrets": K8sSecretsResource(
            kubeconfig=EnvVar(KUBECONFIG_VAR), namespace=EnvVar(NAMESPACE_VAR)
        )
    },
)
