"""Every private attribute of dagster-k8s this package touches, in one place, each with why.

dagster-k8s (pinned: :data:`PINNED_VERSION`) offers no public way to do these; keeping them here
means an upgrade that renames one breaks exactly this module, and
``tests/unit/launcher/test_dagster_k8s_internals.py`` checks each one against the installed
version and fails loudly, naming what to re-check, when that version changes.

- ``K8sRunLauncher._api_client`` / ``K8sStepHandler._api_client``: the
  ``DagsterKubernetesClient`` they create in their constructors. The launcher caps the requests
  of the API objects *it* created (dagster-k8s sets no timeout on most calls), deletes a Job that
  can never start, and shortens the wait between Job-creation attempts in tests.
- ``DagsterKubernetesClient.create_namespaced_job_with_retries(..., wait_time_between_attempts)``:
  the only place the 10 s wait between Job-creation attempts can be set.
- ``K8sRunLauncher._get_resume_attempt_number(run)``: the Job name of a resumed run.
- ``StepDelegatingExecutor._step_handler``: ``k8s_job_executor`` builds its ``K8sStepHandler``
  inside the executor function; ``floe_k8s_job_executor`` re-classes that very object (keeping
  every setting it parsed) instead of copying the function.
- ``dagster_k8s.executor._K8S_EXECUTOR_CONFIG_SCHEMA``: so ``floe_k8s_job_executor`` takes
  exactly ``k8s_job_executor``'s config.
- Overridden private hooks (:data:`OVERRIDDEN_HOOKS`):
  ``K8sRunLauncher._report_run_worker_creating`` (the "Creating Kubernetes run worker job"
  event names the secret refs: one storage write, not two), and
  ``K8sStepHandler._get_container_context`` / ``_get_step_key`` (the step pod's container
  context, the one seam of the step handler).
- ``K8sRunLauncher._launch_k8s_job_with_args`` is overridden with a copy of its body
  (:data:`LAUNCH_JOB_SOURCE_SHA256` pins the source copied) so that its one ``add_run_tags``
  call also writes floe's run tags, before the Job; ``DOCKER_IMAGE_TAG`` is the tag it writes.
- ``K8sContainerContext._merge_k8s_config``: merges floe's run config into a context with one
  merge, where ``context.merge(K8sContainerContext(run_k8s_config=…))`` rebuilds the context
  (six merges; a sixth of the launcher's own work per launch).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from dagster._core.storage.tags import DOCKER_IMAGE_TAG as DOCKER_IMAGE_TAG
from dagster_k8s.executor import _K8S_EXECUTOR_CONFIG_SCHEMA as _K8S_EXECUTOR_CONFIG_SCHEMA

if TYPE_CHECKING:
    from dagster import DagsterRun
    from dagster_k8s import K8sRunLauncher
    from dagster_k8s.client import DagsterKubernetesClient
    from dagster_k8s.container_context import K8sContainerContext
    from dagster_k8s.executor import K8sStepHandler

    from floe_dagster_secrets._dagster_internals import StepDelegatingExecutor

PINNED_VERSION = "0.29.27"
"""The dagster-k8s version every attribute below was read from."""

EXECUTOR_CONFIG_SCHEMA: Any = _K8S_EXECUTOR_CONFIG_SCHEMA
"""``k8s_job_executor``'s config schema."""

OVERRIDDEN_HOOKS: dict[str, dict[str, tuple[str, ...]]] = {
    "dagster_k8s.launcher.K8sRunLauncher": {
        "_report_run_worker_creating": ("self", "run", "job_name", "namespace"),
        "_report_run_worker_created": ("self", "run"),
        "_launch_k8s_job_with_args": ("self", "job_name", "args", "run"),
    },
    "dagster_k8s.container_context.K8sContainerContext": {
        "_merge_k8s_config": ("onto_config", "from_config"),
    },
    "dagster_k8s.executor.K8sStepHandler": {
        "_get_container_context": ("self", "step_handler_context"),
        "_get_step_key": ("self", "step_handler_context"),
    },
}
"""Private methods floe overrides or calls, by class, with the parameters it relies on."""

LAUNCH_JOB_SOURCE_SHA256 = "ea76a226ffda38c29fce23b5f681f18090c85546745dcaf32a11949d3a8f5f81"
"""sha256 of ``inspect.getsource(K8sRunLauncher._launch_k8s_job_with_args)`` that floe copied."""


def kubernetes_client(owner: K8sRunLauncher | K8sStepHandler) -> DagsterKubernetesClient:
    """The ``DagsterKubernetesClient`` a launcher or step handler created in its constructor."""
    client: DagsterKubernetesClient = owner._api_client
    return client


def merge_run_k8s_config(context: K8sContainerContext, config: Any) -> K8sContainerContext:
    """``context`` with ``config`` (a ``UserDefinedDagsterK8sConfig``) merged into its run config.

    The same result as ``context.merge(K8sContainerContext(run_k8s_config=config))`` (its merge
    behaviour is ``config``'s), without rebuilding every other part of the context.
    """
    from dagster_k8s.container_context import K8sContainerContext as Context

    merged = Context._merge_k8s_config(context.run_k8s_config, config)
    result: K8sContainerContext = context._replace(run_k8s_config=merged)
    return result


def set_job_create_retry_wait(client: DagsterKubernetesClient, seconds: float) -> None:
    """Wait ``seconds`` (not 10 s) between the 4 attempts at creating a Job.

    Patches the instance the launcher created itself, never an object the caller passed in.
    """
    client.create_namespaced_job_with_retries = functools.partial(  # type: ignore[method-assign]
        client.create_namespaced_job_with_retries,
        wait_time_between_attempts=seconds,
    )


def resume_attempt_number(launcher: K8sRunLauncher, run: DagsterRun) -> int | None:
    """Which resume attempt the run's current Job belongs to (part of the Job's name)."""
    number: int | None = launcher._get_resume_attempt_number(run)
    return number


def step_handler(executor: StepDelegatingExecutor) -> Any:
    """The step handler ``k8s_job_executor`` built inside its executor function."""
    return executor._step_handler


def reclass_step_handler(executor: StepDelegatingExecutor, cls: type[K8sStepHandler]) -> None:
    """Make the executor's ``K8sStepHandler`` a ``cls`` (a subclass adding no state)."""
    executor._step_handler.__class__ = cls
