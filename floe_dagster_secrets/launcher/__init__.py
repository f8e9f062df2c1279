"""Per-run, least-privilege secrets for Dagster runs on Kubernetes (dagster-k8s seam).

``FloeK8sRunLauncher`` for ``dagster.yaml``'s ``run_launcher``; ``floe_k8s_job_executor`` for
jobs whose steps run in their own pods. ``pod_env`` holds the pure pod-spec building.
"""

from floe_dagster_secrets.launcher.executor import FloeK8sStepHandler as FloeK8sStepHandler
from floe_dagster_secrets.launcher.executor import floe_k8s_job_executor as floe_k8s_job_executor
from floe_dagster_secrets.launcher.run_launcher import FloeK8sRunLauncher as FloeK8sRunLauncher

__all__ = ["FloeK8sRunLauncher", "FloeK8sStepHandler", "floe_k8s_job_executor"]
