"""``definitions.instance``, the name ``tools/demo.py``, the benchmarks and the tests import: the
dg project's ``floe_demo.instance`` (the demo instance's ``dagster.yaml``)."""

from floe_demo.instance import (
    LOCATION_NAME,
    instance_config,
    secrets_loader_config,
    write_instance_config,
)

__all__ = ["LOCATION_NAME", "instance_config", "secrets_loader_config", "write_instance_config"]
