"""``floe_k8s_job_executor``: ``k8s_job_executor`` whose step pods get the step's own secrets.

dagster-k8s builds step pods without the run launcher's ``get_container_context_for_run``: its
step handler calls ``K8sContainerContext.create_for_run(run, launcher, include_run_tags=False)``
and reads the launcher's ``env_secrets``. ``FloeK8sRunLauncher`` keeps ``env_secrets`` to what
the user configured, so with the stock executor step pods would get none of the run's secrets.

This executor's step handler adds, after everything dagster-k8s merged, the secrets of the
assets *this step* materializes or checks (``floe/secrets`` metadata, read from the job
definition the run worker has loaded) plus the platform-wide ones — intersected with the run's
``floe/secret-refs`` tag, so a step never gets a secret the launcher did not check and record.
A step with no asset (a plain op) gets the platform secrets only. What the step pod gets for
them is the manifest's backend's decision, as for the run pod; a service account set for step
pods (executor config, op tags, code location) is never replaced: a step whose account the
backend cannot work with fails before its Job is created, naming both.

.. code-block:: python

    from floe_dagster_secrets.launcher import floe_k8s_job_executor

    defs = Definitions(assets=[...], executor=floe_k8s_job_executor)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

from dagster import AssetKey, DagsterEvent, executor, multiple_process_executor_requirements
from dagster_k8s.executor import K8sStepHandler, k8s_job_executor

from floe_dagster_secrets._dagster_internals import StepDelegatingExecutor, StepHandlerContext
from floe_dagster_secrets.asset_metadata import secrets_from_metadata
from floe_dagster_secrets.launcher import _dagster_k8s_internals as internals
from floe_dagster_secrets.launcher.job_faults import DEFAULT_JOB_REQUEST_TIMEOUT, bound_requests
from floe_dagster_secrets.launcher.pod_env import (
    run_secret_names,
    service_account_conflict,
)
from floe_dagster_secrets.launcher.run_launcher import FloeK8sRunLauncher, service_account_of


def step_asset_keys(step_handler_context: StepHandlerContext, step_key: str) -> set[AssetKey]:
    """Asset keys whose outputs (materializations or checks) this step produces."""
    step = step_handler_context.get_step_context(step_key).step
    keys: set[AssetKey] = set()
    for output in step.step_outputs:
        props = output.properties
        if props.asset_key is not None:
            keys.add(props.asset_key)
        if props.asset_check_key is not None:
            keys.add(props.asset_check_key.asset_key)
    return keys


def step_secret_names(
    step_handler_context: StepHandlerContext, step_key: str, launcher: FloeK8sRunLauncher
) -> tuple[str, ...]:
    """The step's secrets: platform + its assets' ones, within what the run was launched with."""
    run_refs = launcher.secret_refs(step_handler_context.dagster_run)
    job_def = step_handler_context.get_step_context(step_key).job.get_definition()
    graph = job_def.asset_layer.asset_graph
    per_asset = [
        secrets_from_metadata(graph.get(key).metadata)
        for key in step_asset_keys(step_handler_context, step_key)
        if graph.has(key)
    ]
    wanted = run_secret_names(launcher.floe.platform_secrets, per_asset)
    return tuple(name for name in wanted if name in run_refs)


class FloeK8sStepHandler(K8sStepHandler):
    """``K8sStepHandler`` whose container context adds the step's own secrets last."""

    @property
    def name(self) -> str:
        """Shown in engine events."""
        return "FloeK8sStepHandler"

    def _get_container_context(self, step_handler_context: StepHandlerContext) -> Any:
        context = super()._get_container_context(step_handler_context)
        launcher = step_handler_context.instance.run_launcher
        if not isinstance(launcher, FloeK8sRunLauncher):
            return context
        step_key = self._get_step_key(step_handler_context)
        names = step_secret_names(step_handler_context, step_key, launcher)
        return launcher.with_secrets(context, launcher.floe.contribution(names))

    def launch_step(self, step_handler_context: StepHandlerContext) -> Iterator[DagsterEvent]:
        """Refuse a step pod account the backend cannot work with, then dagster-k8s's launch."""
        launcher = step_handler_context.instance.run_launcher
        if isinstance(launcher, FloeK8sRunLauncher):
            theirs = super()._get_container_context(step_handler_context)
            step_key = self._get_step_key(step_handler_context)
            names = step_secret_names(step_handler_context, step_key, launcher)
            backend = launcher.floe.backend
            conflict = service_account_conflict(
                launcher.floe.contribution(names),
                service_account_of(theirs),
                where=f"the step pod config of step '{step_key}' (k8s_job_executor config, op "
                "tags, launcher or code location)",
                backend=backend.name if backend is not None else "k8s",
            )
            if conflict is not None:
                raise conflict
        yield from super().launch_step(step_handler_context)


@executor(
    name="floe_k8s",
    config_schema=internals.EXECUTOR_CONFIG_SCHEMA,
    requirements=multiple_process_executor_requirements(),
)
def floe_k8s_job_executor(init_context: Any) -> StepDelegatingExecutor:
    """``k8s_job_executor`` (same config) with step pods scoped to each step's secrets."""
    base = cast(StepDelegatingExecutor, k8s_job_executor.executor_creation_fn(init_context))  # type: ignore[misc]
    # dagster-k8s builds its handler inside the executor function; re-classing it keeps every
    # setting it parsed (image, kube config, per-step config) and swaps two methods.
    internals.reclass_step_handler(base, FloeK8sStepHandler)
    client = internals.kubernetes_client(internals.step_handler(base))
    # the handler created these API objects itself; dagster-k8s sets few timeouts: cap them
    for api in (client.batch_api, client.core_api):
        bound_requests(api.api_client, DEFAULT_JOB_REQUEST_TIMEOUT)
    return base
