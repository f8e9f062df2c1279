"""The Kubernetes Secrets backend (``type: k8s``): a namespace's Secrets, read with raw JSON calls.

Public surface: :class:`K8sSecretsPlugin` (the ``floe.secrets`` entry point ``k8s``). The
Kubernetes plumbing this backend shares with the ESO backend, the run launcher and the rollout
(the HTTP call, error translation, Secret objects, the metadata watch, pod-spec fragments, RBAC)
lives in :mod:`floe_dagster_secrets.kube`, not here. Code outside this folder imports only what
this ``__init__`` exports.
"""

from floe_dagster_secrets.backends.kubernetes.plugin import K8sSecretsPlugin as K8sSecretsPlugin

__all__ = ["K8sSecretsPlugin"]
