"""What the launcher does when Kubernetes fails it after the pre-flight check.

Three gaps that dagster-k8s leaves and that this module closes, each without touching how the Job
is built:

- **Timeouts.** dagster-k8s sets a timeout on Job creation (10 s) but not on its other calls
  (Job status, pod listing, Job deletion), so a hung apiserver hangs those for ever.
  :func:`bound_requests` caps every request of its clients at a (connect, read) timeout.
- **The Job cannot be created** (apiserver down, RBAC without ``create jobs``, a timeout).
  dagster-k8s lets the client's exception escape, and Dagster fails the run with urllib3's text.
  :func:`job_creation_error` turns it into our error: which Job, which namespace, what failed,
  and — because a timed-out create may still have gone through — the exact command to check.
- **A secret disappears between the pre-flight check and pod start.** The kubelet then cannot
  start the container (``CreateContainerConfigError``) and retries for ever; Dagster's run
  monitoring eventually fails the run for taking too long to start and asks the launcher for
  debug information. :func:`gone_secrets_errors` says which secret went missing, and the
  launcher deletes the Job that can never start, so nothing is left behind.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from floe_dagster_secrets.backends._retry import describe_network_failure, http_status
from floe_dagster_secrets.errors import (
    BackendUnavailableError,
    FloeSecretsError,
    SecretAccessDeniedError,
    SecretNotFoundError,
)
from floe_dagster_secrets.masking import redact
from floe_dagster_secrets.types import SecretMetadata

DEFAULT_JOB_REQUEST_TIMEOUT = (10.0, 60.0)
"""(connect, read) seconds for dagster-k8s's requests when they set none."""


def capped_timeout(requested: Any, cap: tuple[float, float]) -> tuple[float, float]:
    """(connect, read) no longer than ``cap``: ``requested`` may be None, a number or a pair."""
    if isinstance(requested, int | float) and requested > 0:
        return (min(float(requested), cap[0]), min(float(requested), cap[1]))
    if isinstance(requested, tuple) and len(requested) == 2:
        return (min(float(requested[0]), cap[0]), min(float(requested[1]), cap[1]))
    return cap


def bound_requests(api_client: Any, timeout: tuple[float, float]) -> None:
    """Cap every request of a kubernetes ``ApiClient`` at ``timeout`` (connect, read).

    A request without ``_request_timeout`` would otherwise wait for ever on a hung apiserver;
    one with a longer timeout is shortened. Wraps the instance's ``request``, which every
    generated API method goes through; idempotent.
    """
    if getattr(api_client, "_floe_bounded", False):
        return
    original: Callable[..., Any] = api_client.request

    def request(*args: Any, **kwargs: Any) -> Any:
        kwargs["_request_timeout"] = capped_timeout(kwargs.get("_request_timeout"), timeout)
        return original(*args, **kwargs)

    api_client.request = request
    api_client._floe_bounded = True


def is_kubernetes_client_error(error: BaseException) -> bool:
    """Errors that come from talking to the apiserver (ApiException, urllib3, socket)."""
    import urllib3.exceptions
    from kubernetes.client.exceptions import ApiException

    if isinstance(error, ApiException | urllib3.exceptions.HTTPError | OSError):
        return True
    cause = getattr(error, "k8s_api_exception", None)  # DagsterK8sAPIRetryLimitExceeded
    return isinstance(cause, BaseException) and is_kubernetes_client_error(cause)


def job_creation_error(error: BaseException, *, job_name: str, namespace: str) -> FloeSecretsError:
    """Our error for a Job that could not be created after the pre-flight check passed."""
    cause = getattr(error, "k8s_api_exception", None) or error
    status = http_status(cause)
    check = (
        f"`kubectl get job {job_name} -n {namespace}` (a request that timed out may still have "
        "created it: delete it before re-executing)"
    )
    where: dict[str, Any] = {"backend": "k8s", "namespace": namespace}
    if status == 403:
        return SecretAccessDeniedError(
            f"The launcher may not create Jobs in namespace '{namespace}' (Job {job_name}): "
            f"{redact(str(getattr(cause, 'reason', '') or 'forbidden'))}",
            fix="grant the daemon's and webserver's service account 'create' on jobs.batch in "
            "that namespace, then re-execute the run",
            **where,
        )
    what = f"answered {status}" if status else describe_network_failure(cause)
    return BackendUnavailableError(
        f"Could not create the run's Job {job_name} in namespace '{namespace}' after the secrets "
        f"pre-flight check passed: the Kubernetes API {what}",
        fix=f"check the API server (kubectl get --raw /readyz), then {check}, and re-execute "
        "the run",
        **where,
    )


def delete_job(batch_api: Any, name: str, namespace: str) -> None:
    """Delete a Job now, its pods in the background (a missing Job is fine).

    ``Background`` rather than the Job API's default ``orphan``: the Job object goes at once and
    the garbage collector removes its pods, so no pod keeps retrying a start that cannot work.
    """
    from kubernetes.client.exceptions import ApiException

    try:
        batch_api.delete_namespaced_job(name, namespace, propagation_policy="Background")
    except ApiException as e:
        if e.status != 404:
            raise


def gone_secrets_errors(
    refs: Sequence[str],
    required_keys: Mapping[str, Sequence[str]],
    found: Mapping[str, SecretMetadata],
    *,
    namespace: str,
    job_name: str,
) -> list[SecretNotFoundError]:
    """One error per secret of the run that is missing now, or lacks a key it needs."""
    errors: list[SecretNotFoundError] = []
    for name in refs:
        meta = found.get(name)
        keys = required_keys.get(name, ())
        missing_keys = (
            [k for k in keys if k not in meta.keys] if meta is not None and meta.keys_known else []
        )
        if meta is not None and not missing_keys:
            continue
        what = (
            "no longer exists"
            if meta is None
            else f"no longer holds key(s) {', '.join(missing_keys)}"
        )
        errors.append(
            SecretNotFoundError(
                f"Secret '{name}' that this run mounts {what} in namespace '{namespace}': it "
                "was changed after the launcher's pre-flight check, so the run's pod cannot "
                f"start (CreateContainerConfigError); Job {job_name} was deleted",
                fix=f"restore it (floe secrets create {name} --namespace {namespace}) and "
                "re-execute the run",
                backend="k8s",
                secret=name,
                namespace=namespace,
            )
        )
    return errors
