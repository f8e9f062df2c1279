"""dbt profiles that read every credential from ``DBT_ENV_SECRET_*`` environment variables.

Pure functions, no Dagster: the launcher, the resources and the CLI build on them.
"""

from floe_dagster_secrets.dbt.adapters import COMPUTE_TYPES as COMPUTE_TYPES
from floe_dagster_secrets.dbt.adapters import SPECS as SPECS
from floe_dagster_secrets.dbt.adapters import (
    duckdb_extension_directory as duckdb_extension_directory,
)
from floe_dagster_secrets.dbt.adapters import profile_env as profile_env
from floe_dagster_secrets.dbt.adapters import required_secret_keys as required_secret_keys
from floe_dagster_secrets.dbt.profiles import find_literal_credentials as find_literal_credentials
from floe_dagster_secrets.dbt.profiles import render_profile as render_profile
from floe_dagster_secrets.dbt.profiles import render_profiles_configmap as render_profiles_configmap
from floe_dagster_secrets.dbt.profiles import render_profiles_yml as render_profiles_yml
from floe_dagster_secrets.dbt.profiles import write_profiles_yml as write_profiles_yml
from floe_dagster_secrets.dbt.spec import SECRET_ENV_PREFIX as SECRET_ENV_PREFIX
from floe_dagster_secrets.dbt.spec import env_var_reference as env_var_reference
from floe_dagster_secrets.dbt.spec import secret_env_name as secret_env_name

__all__ = [
    "COMPUTE_TYPES",
    "SECRET_ENV_PREFIX",
    "SPECS",
    "duckdb_extension_directory",
    "env_var_reference",
    "find_literal_credentials",
    "profile_env",
    "render_profile",
    "render_profiles_configmap",
    "render_profiles_yml",
    "required_secret_keys",
    "secret_env_name",
    "write_profiles_yml",
]
