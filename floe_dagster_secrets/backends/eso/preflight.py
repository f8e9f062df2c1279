"""The pre-flight rule for ExternalSecrets: a run starts only on a Ready, fresh sync.

A Secret that ESO synced once and then failed to refresh still exists with its keys, so the
generic existence-and-keys check would pass it, whether the launcher reads through the ESO
backend or, as the run launcher does, through the Kubernetes backend; a job would then run on a
value the store no longer holds (rotated, revoked). So an ExternalSecret must be ``Ready`` and
have synced within its refresh interval (plus a grace period). Under ESO's ``refreshPolicy``
``CreatedOnce`` or ``OnChange`` ESO never refreshes on the interval, so there the age of the last
sync says nothing: such an ExternalSecret must be Ready and have synced once.

Both backends answer :class:`~floe_dagster_secrets.backends.base.ChecksSyncBeforeRun` with these
functions: the ESO backend from the sync state its metadata carries (:func:`sync_errors`), the
Kubernetes backend with :func:`unsynced_targets` for the Secrets that carry ESO's label.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from floe_dagster_secrets.backends.eso.api import EsoApi
from floe_dagster_secrets.backends.eso.objects import (
    BACKEND,
    DEFAULT_API_VERSION,
    api_path,
    metadata_from_external_secret,
    target_name,
)
from floe_dagster_secrets.errors import BackendUnavailableError, FloeSecretsError
from floe_dagster_secrets.types import SecretMetadata

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

STALE_GRACE = timedelta(minutes=1)


def sync_errors(
    found: Iterable[SecretMetadata], *, now: datetime | None = None
) -> list[BackendUnavailableError]:
    """One error per ExternalSecret that is not Ready or whose last sync is stale."""
    now = now or datetime.now(UTC)
    errors: list[BackendUnavailableError] = []
    for meta in found:
        state = meta.sync
        if state is None:
            continue
        where = {"backend": BACKEND, "secret": meta.name, "namespace": meta.namespace}
        fix = _fix(meta, state.refresh_policy)
        if not state.ready:
            errors.append(
                BackendUnavailableError(
                    f"ExternalSecret '{meta.name}' is not Ready ({state.reason}: {state.message}); "
                    "no Job was created",
                    fix=fix,
                    **where,
                )
            )
        elif state.is_stale(now, grace=STALE_GRACE):
            synced = state.refresh_time.isoformat() if state.refresh_time else "never"
            errors.append(
                BackendUnavailableError(
                    f"ExternalSecret '{meta.name}' last synced at {synced}, longer ago than its "
                    f"refresh interval ({state.refresh_interval}); no Job was created",
                    fix=fix,
                    **where,
                )
            )
    return errors


def _fix(meta: SecretMetadata, policy: str) -> str:
    describe = (
        f"fix what ESO reports (kubectl describe externalsecret {meta.name} -n {meta.namespace})"
    )
    if policy == "CreatedOnce":
        # ESO ignores a forced sync of a CreatedOnce ExternalSecret once it synced; it fetches
        # again only when the Secret it wrote is gone or no longer matches.
        target = str(meta.extra.get("target") or meta.name)
        return (
            f"{describe}; refreshPolicy CreatedOnce ignores forced syncs, so delete its Secret "
            f"(kubectl delete secret {target} -n {meta.namespace}) to have ESO fetch it again, "
            "and launch the run again"
        )
    return (
        f"{describe}, force a sync with `floe secrets rotate` or the force-sync annotation, and "
        "launch the run again"
    )


ESO_MANAGED_LABEL = "reconcile.external-secrets.io/managed"
"""Label ESO puts on every Secret it writes (value ``"true"``)."""


def unsynced_targets(
    api_client: Callable[[], ApiClient], namespace: str, found: Mapping[str, SecretMetadata]
) -> list[FloeSecretsError]:
    """Sync errors of the Secrets in ``found`` that ESO wrote, judged by their ExternalSecrets.

    What the Kubernetes backend (the run launcher's reader) answers: a Secret that ESO wrote
    carries ESO's managed label; only then is one LIST of the namespace's ExternalSecrets made,
    and each such Secret is judged by the ExternalSecret that targets it. A cluster without ESO
    costs nothing.

    Args:
        api_client: Gives the Kubernetes backend's own client (same credentials and RBAC).
        namespace: Where the secrets were found.
        found: The referenced secrets that exist, by name.
    """
    managed = {name for name, meta in found.items() if meta.labels.get(ESO_MANAGED_LABEL) == "true"}
    if not managed:
        return []
    listed = EsoApi(api_client).send(
        "GET", api_path(DEFAULT_API_VERSION, namespace), verb="list", namespace=namespace
    )
    return list(
        sync_errors(
            metadata_from_external_secret(obj, namespace)
            for obj in listed.get("items") or ()
            if target_name(obj) in managed
        )
    )
