"""Dagster Pipes on Kubernetes with floe's least-privilege rule: a pod gets its asset's secrets.

``FloePipesK8sClient`` for assets that run external code in a pod; ``pipes_pod_spec`` and
``step_secret_names`` for building such a pod spec yourself; ``MaskedPodLogsMessageReader`` to
read any Pipes pod's output through floe's masker.
"""

from floe_dagster_secrets.pipes.client import FloePipesK8sClient as FloePipesK8sClient
from floe_dagster_secrets.pipes.client import launcher_settings as launcher_settings
from floe_dagster_secrets.pipes.client import step_asset_metadata as step_asset_metadata
from floe_dagster_secrets.pipes.masked_logs import (
    MaskedPodLogsMessageReader as MaskedPodLogsMessageReader,
)
from floe_dagster_secrets.pipes.pod import pipes_pod_spec as pipes_pod_spec
from floe_dagster_secrets.pipes.pod import step_secret_names as step_secret_names

__all__ = [
    "FloePipesK8sClient",
    "MaskedPodLogsMessageReader",
    "launcher_settings",
    "pipes_pod_spec",
    "step_asset_metadata",
    "step_secret_names",
]
