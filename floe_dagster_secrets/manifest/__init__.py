"""The manifest: ADR-0023's ``manifest.yaml`` as validated, frozen models.

Read it with :func:`load_manifest`; ask it which secrets it uses with
:meth:`Manifest.secret_references`. Nothing here imports dagster.
"""

from floe_dagster_secrets.manifest.json_schema import (
    manifest_json_schema as manifest_json_schema,
)
from floe_dagster_secrets.manifest.json_schema import write_json_schema as write_json_schema
from floe_dagster_secrets.manifest.loader import load_manifest as load_manifest
from floe_dagster_secrets.manifest.loader import parse_manifest as parse_manifest
from floe_dagster_secrets.manifest.loader import validation_problems as validation_problems
from floe_dagster_secrets.manifest.naming import KNOWN_ENVIRONMENTS as KNOWN_ENVIRONMENTS
from floe_dagster_secrets.manifest.naming import FloeNamingWarning as FloeNamingWarning
from floe_dagster_secrets.manifest.naming import check_secret_name as check_secret_name
from floe_dagster_secrets.manifest.naming import (
    follows_naming_convention as follows_naming_convention,
)
from floe_dagster_secrets.manifest.plugins import CatalogPluginConfig as CatalogPluginConfig
from floe_dagster_secrets.manifest.plugins import ComputePluginConfig as ComputePluginConfig
from floe_dagster_secrets.manifest.plugins import ComputeType as ComputeType
from floe_dagster_secrets.manifest.plugins import Plugins as Plugins
from floe_dagster_secrets.manifest.plugins import PolarisCatalogConfig as PolarisCatalogConfig
from floe_dagster_secrets.manifest.plugins import SecretsPluginConfig as SecretsPluginConfig
from floe_dagster_secrets.manifest.plugins import looks_like_credential as looks_like_credential
from floe_dagster_secrets.manifest.rules import check_no_shared_secrets as check_no_shared_secrets
from floe_dagster_secrets.manifest.schema import Ingestion as Ingestion
from floe_dagster_secrets.manifest.schema import Manifest as Manifest
from floe_dagster_secrets.manifest.schema import Pipeline as Pipeline
from floe_dagster_secrets.manifest.schema import PipelineSource as PipelineSource
from floe_dagster_secrets.manifest.schema import SecretPolicy as SecretPolicy
from floe_dagster_secrets.manifest.schema import SecretReference as SecretReference
from floe_dagster_secrets.manifest.secrets_config import BackendConfig as BackendConfig
from floe_dagster_secrets.manifest.secrets_config import (
    ExternalSecretsConfig as ExternalSecretsConfig,
)
from floe_dagster_secrets.manifest.secrets_config import K8sSecretsConfig as K8sSecretsConfig
from floe_dagster_secrets.manifest.secrets_config import LocalSecretsConfig as LocalSecretsConfig
from floe_dagster_secrets.manifest.secrets_config import SecretsBackendType as SecretsBackendType
from floe_dagster_secrets.manifest.secrets_config import SecretsConfig as SecretsConfig
from floe_dagster_secrets.manifest.secrets_config import VaultSecretsConfig as VaultSecretsConfig
from floe_dagster_secrets.manifest.secrets_config import (
    secrets_config_model as secrets_config_model,
)
