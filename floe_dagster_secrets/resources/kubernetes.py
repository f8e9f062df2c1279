"""Resource for Kubernetes Secrets, the default production backend of ADR-0023."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from floe_dagster_secrets.resources.base import FloeSecretsResource


class K8sSecretsResource(FloeSecretsResource):
    """Secrets read from Kubernetes Secrets in ``namespace`` when a step runs.

    Only how to reach the cluster is configured (a kubeconfig path, a context name, or
    in-cluster); the ServiceAccount token or client certificate stays in those files. With all
    three unset, the plugin uses the in-cluster config inside a pod and the default kubeconfig
    elsewhere.

    For example:

    ```python
    from dagster import Definitions

    from floe_dagster_secrets.resources import K8sSecretsResource

    defs = Definitions(
        assets=[...],
        resources={"secrets": K8sSecretsResource(namespace="floe-jobs",
                                                 in_cluster=True)},
    )
    ```
    """

    backend: ClassVar[str] = "k8s"

    kubeconfig: str | None = Field(
        default=None,
        description="Path to a kubeconfig file (a path, not its contents); None for the default.",
    )
    context: str | None = Field(
        default=None,
        description="kubeconfig context to use; None for the file's current-context.",
    )
    in_cluster: bool | None = Field(
        default=None,
        description=(
            "True to use the pod's ServiceAccount, False to use a kubeconfig, None to decide by "
            "whether the process runs in a pod."
        ),
    )

    def backend_kwargs(self) -> dict[str, Any]:
        """``K8sSecretsPlugin(kubeconfig=…, context=…, in_cluster=…)``."""
        return {
            "kubeconfig": self.kubeconfig,
            "context": self.context,
            "in_cluster": self.in_cluster,
        }
