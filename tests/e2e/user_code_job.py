"""A careless code location: each asset writes a fetched secret value into one Dagster channel.

Loaded by ``dagster job execute -f`` in ``test_canary_user_code``. The values come from the local
store named by ``FLOE_CANARY_STORE`` through ``LocalSecretsResource``, as a real asset gets them,
so the step process's masker knows them. Each channel gets its own key, so a leak names its
channel.
"""

import os

from dagster import (
    AssetExecutionContext,
    AssetMaterialization,
    ConfigurableResource,
    Definitions,
    Failure,
    InitResourceContext,
    Output,
    asset,
    define_asset_job,
)

from floe_dagster_secrets.resources import LocalSecretsResource

SECRET = "careless-app-credentials"
NAMESPACE = "floe-jobs"
JOB = "careless_job"
RESOURCE_JOB = "careless_resource_job"
KEYS = (
    "METADATA",
    "OUTPUT_METADATA",
    "DESCRIPTION",
    "TAG",
    "HEX",
    "FAILURE",
    "EXCEPTION",
    "RESOURCE",
)


@asset
def writes_metadata(context: AssetExecutionContext, secrets: LocalSecretsResource) -> int:
    """Metadata, a materialization description, a run tag and a hex dump, each with a value."""
    values = secrets.get_secret(SECRET)
    context.add_output_metadata(
        {
            "connection": f"host=db user=app password={values['METADATA'].reveal()}",
            "key_dump": values["HEX"].reveal().encode().hex(),
        }
    )
    context.log_event(
        AssetMaterialization(
            asset_key="careless_report",
            description=f"report signed with {values['DESCRIPTION'].reveal()}",
        )
    )
    context.instance.add_run_tags(context.run_id, {"deployed-by": f"ci-{values['TAG'].reveal()}"})
    return 1


@asset
def returns_output(secrets: LocalSecretsResource) -> Output[int]:
    """``Output(metadata=…)`` with a value in it."""
    values = secrets.get_secret(SECRET)
    return Output(1, metadata={"dsn": f"postgresql://app:{values['OUTPUT_METADATA'].reveal()}@db"})


@asset(deps=[writes_metadata, returns_output])
def raises_failure(secrets: LocalSecretsResource) -> None:
    """``Failure(description=…)`` with a value in it."""
    values = secrets.get_secret(SECRET)
    key = values["FAILURE"].reveal()
    raise Failure(description=f"login refused for key {key}", metadata={"tried": f"key={key}"})


@asset(deps=[writes_metadata, returns_output])
def raises_exception(secrets: LocalSecretsResource) -> None:
    """An exception whose message holds a value."""
    values = secrets.get_secret(SECRET)
    raise RuntimeError(f"connection refused for password {values['EXCEPTION'].reveal()}")


class CarelessWarehouse(ConfigurableResource):
    """A resource whose connection error quotes the password it fetched."""

    secrets: LocalSecretsResource

    def setup_for_execution(self, context: InitResourceContext) -> None:
        password = self.secrets.get_secret(SECRET)["RESOURCE"].reveal()
        raise ConnectionError(f"warehouse login failed with {password}")


@asset
def needs_warehouse(warehouse: CarelessWarehouse) -> None:
    """Never runs: its resource fails to initialise in the step process."""


_SECRETS = LocalSecretsResource(
    path=os.environ.get("FLOE_CANARY_STORE", ".floe/secrets"), namespace=NAMESPACE
)
defs = Definitions(
    assets=[writes_metadata, returns_output, raises_failure, raises_exception, needs_warehouse],
    jobs=[
        define_asset_job(
            JOB, selection=[writes_metadata, returns_output, raises_failure, raises_exception]
        ),
        define_asset_job(RESOURCE_JOB, selection=[needs_warehouse]),
    ],
    resources={"secrets": _SECRETS, "warehouse": CarelessWarehouse(secrets=_SECRETS)},
)
