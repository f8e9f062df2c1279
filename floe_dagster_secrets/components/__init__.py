"""floe's Dagster Component, registered with ``dg`` (``dagster_dg_cli.registry_modules``).

``dg list components`` shows ``floe_dagster_secrets.components.FloeSecretsComponent``;
``dg scaffold defs floe_dagster_secrets.components.FloeSecretsComponent <folder>`` starts one.
"""

from floe_dagster_secrets.components.scaffolder import (
    FloeSecretsScaffolder as FloeSecretsScaffolder,
)
from floe_dagster_secrets.components.secrets_component import (
    FloeSecretsComponent as FloeSecretsComponent,
)
from floe_dagster_secrets.components.secrets_component import (
    RotationSensorSettings as RotationSensorSettings,
)
from floe_dagster_secrets.components.wiring import (
    manifest_asset_secrets as manifest_asset_secrets,
)
from floe_dagster_secrets.components.wiring import secured_definitions as secured_definitions

__all__ = [
    "FloeSecretsComponent",
    "FloeSecretsScaffolder",
    "RotationSensorSettings",
    "manifest_asset_secrets",
    "secured_definitions",
]
