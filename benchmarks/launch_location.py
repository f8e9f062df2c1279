"""Code location of the launch benchmark: one asset job per size, loaded by a real code server.

``job_s<S>`` (S = 1, 10, 100 secrets per run) has five assets in a chain; its S secrets are
spread over them in their ``floe/secrets`` metadata, as ``@dbt_assets`` with a translator would
record them. Nothing here runs: the benchmark only launches (Job created, tags written).
"""

from collections.abc import Sequence

from dagster import AssetKey, AssetsDefinition, Definitions, asset, define_asset_job

from floe_dagster_secrets.resources import secrets_metadata

SIZES = (1, 10, 100)
ASSETS_PER_JOB = 5


def secret_names(size: int) -> list[str]:
    """The secrets the assets of ``job_s<size>`` name."""
    return [f"s{size:03d}-{i:03d}-bench-credentials" for i in range(size)]


def _assets(size: int) -> Sequence[AssetsDefinition]:
    names = secret_names(size)
    made: list[AssetsDefinition] = []
    for i in range(ASSETS_PER_JOB):
        upstream = [AssetKey(f"s{size}_step_{i - 1}")] if i else []

        @asset(
            name=f"s{size}_step_{i}",
            deps=upstream,
            metadata=secrets_metadata(names[i::ASSETS_PER_JOB]) if names[i::ASSETS_PER_JOB] else {},
        )
        def _step() -> None:
            return None

        made.append(_step)
    return made


_ALL = {size: _assets(size) for size in SIZES}

defs = Definitions(
    assets=[a for assets in _ALL.values() for a in assets],
    jobs=[define_asset_job(f"job_s{size}", selection=assets) for size, assets in _ALL.items()],
)
