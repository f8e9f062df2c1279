"""One request to the Kubernetes API for the ESO backend, with retries and error translation.

The same discipline as the Kubernetes backend: a timeout on every request, bounded retries of
transient failures only, JSON parsed here (no generated model), and every client error turned
into this package's error tree naming the ExternalSecret, the namespace and the backend
``external-secrets``. Two answers get their own words: a 404 for the resource type itself (ESO's
CRDs are not installed) and a 422 (the apiserver's schema validation refused what floe sent).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from floe_dagster_secrets.backends._retry import (
    DEFAULT_POLICY,
    RetryPolicy,
    http_status,
)
from floe_dagster_secrets.backends.eso.objects import BACKEND
from floe_dagster_secrets.errors import (
    BackendNotInstalledError,
    FloeSecretsError,
    InvalidSecretValueError,
)
from floe_dagster_secrets.kube.errors import status_body, translate
from floe_dagster_secrets.kube.http import call_json
from floe_dagster_secrets.masking import redact

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

APPLY_PATCH = "application/apply-patch+yaml"
MERGE_PATCH = "application/merge-patch+json"
FIELD_MANAGER = "floe"
REQUEST_TIMEOUT = (5.0, 30.0)


def translate_eso(
    error: BaseException,
    *,
    verb: str,
    namespace: str,
    name: str | None,
    kind: str,
    host: str | None,
    attempts: int,
) -> FloeSecretsError:
    """The error to raise for a failed request about an ExternalSecret or ClusterSecretStore."""
    status_code = http_status(error)
    status = status_body(error)
    details = status.get("details") or {}
    where = {"backend": BACKEND, "secret": name, "namespace": namespace}
    if status_code == 404 and not details.get("name"):
        return BackendNotInstalledError(
            f"The Kubernetes API does not know {kind} (the External Secrets Operator's CRDs are "
            "not installed, or not in this API version)",
            fix="install ESO (its CRD bundle, applied server-side) in the cluster, or set "
            "plugins.secrets.config.api_version to a version it serves",
            **where,
        )
    if status_code == 422:
        message = redact(str(status.get("message") or error)).rstrip(".")
        return InvalidSecretValueError(
            f"The Kubernetes API refused the {kind}: {message}",
            fix="fix the fields named above in plugins.secrets.config (or the keys given) and "
            "try again",
            **where,
        )
    base = translate(error, verb=verb, namespace=namespace, name=name, host=host, attempts=attempts)
    problem = base.problem.replace("Secret '", f"{kind} '", 1)
    return type(base)(problem, fix=base.fix, **where)


class EsoApi:
    """Requests about ESO objects through one ``ApiClient`` (created lazily by ``client``)."""

    def __init__(
        self, client: Callable[[], ApiClient], *, policy: RetryPolicy = DEFAULT_POLICY
    ) -> None:
        self._client = client
        self.policy = policy

    def send(
        self,
        method: str,
        path: str,
        *,
        verb: str,
        namespace: str,
        name: str | None = None,
        kind: str = "ExternalSecret",
        body: Mapping[str, Any] | None = None,
        query: list[tuple[str, Any]] | None = None,
        content_type: str = "application/json",
        accept: str = "application/json",
    ) -> dict[str, Any]:
        """One request; its JSON answer, or our error."""
        api = self._client()
        return call_json(
            api,
            method,
            path,
            timeout=REQUEST_TIMEOUT,
            policy=self.policy,
            body=body,
            query=query,
            accept=accept,
            content_type=content_type,
            on_error=lambda error, attempts: translate_eso(
                error,
                verb=verb,
                namespace=namespace,
                name=name,
                kind=kind,
                host=api.configuration.host,
                attempts=attempts,
            ),
        )

    def apply(
        self,
        path: str,
        body: Mapping[str, Any],
        *,
        namespace: str,
        name: str,
        kind: str,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """Server-side apply of ``body`` (floe's field manager); ``dry_run`` only validates.

        With ``dry_run`` the apiserver runs every admission and schema check and stores nothing
        (``dryRun=All``).
        """
        query: list[tuple[str, Any]] = [("fieldManager", FIELD_MANAGER), ("force", "true")]
        if dry_run:
            query.append(("dryRun", "All"))
        return self.send(
            "PATCH",
            path,
            verb="apply",
            namespace=namespace,
            name=name,
            kind=kind,
            body=body,
            query=query,
            content_type=APPLY_PATCH,
        )
