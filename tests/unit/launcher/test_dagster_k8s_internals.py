"""dagster-k8s's private attributes that floe touches: pinned, and each one checked to exist.

On a dagster-k8s upgrade the first test fails loudly; the others say which attribute moved.
Re-read each item of ``floe_dagster_secrets/launcher/_dagster_k8s_internals.py`` against the new
source, then move ``PINNED_VERSION``.
"""

from __future__ import annotations

import importlib
import inspect
import json
import re
from importlib.metadata import requires, version
from pathlib import Path

from dagster import job, op
from dagster_k8s import K8sRunLauncher
from dagster_k8s.client import DagsterKubernetesClient
from dagster_k8s.executor import K8sStepHandler

from floe_dagster_secrets.launcher import _dagster_k8s_internals as internals


@op
def noop() -> None:
    pass


@job
def internals_job() -> None:
    noop()


def _lowest_supported_dagster_k8s() -> str:
    """The lower bound of the package's ``dagster-k8s`` requirement (pyproject.toml)."""
    for requirement in requires("floe-dagster-secrets") or []:
        found = re.match(r"dagster-k8s\s*[<>=!~][^;]*>=\s*([0-9.]+)", requirement)
        if found and "extra ==" not in requirement:
            return found.group(1)
    raise AssertionError("floe-dagster-secrets declares no dagster-k8s>=… requirement")


def test_installed_dagster_k8s_is_a_tested_version() -> None:
    """The test command runs the pinned (highest) version in the project's venv and the range's
    lower bound in tools/test-dagster-range.sh; any other version is unchecked."""
    installed = version("dagster-k8s")
    tested = (_lowest_supported_dagster_k8s(), internals.PINNED_VERSION)
    assert installed in tested, (
        f"dagster-k8s is {installed}, floe's use of its private attributes was checked against "
        f"{' and '.join(tested)}: re-check every item in "
        "floe_dagster_secrets/launcher/_dagster_k8s_internals.py, then update PINNED_VERSION "
        "(and pyproject.toml's range)"
    )


def test_overridden_private_hooks_exist_with_the_parameters_floe_relies_on() -> None:
    for dotted, hooks in internals.OVERRIDDEN_HOOKS.items():
        module, _, name = dotted.rpartition(".")
        cls = getattr(importlib.import_module(module), name)
        for hook, parameters in hooks.items():
            method = getattr(cls, hook, None)
            assert callable(method), f"{dotted}.{hook} is gone"
            assert tuple(inspect.signature(method).parameters) == parameters, f"{dotted}.{hook}"


def test_the_launcher_still_reports_the_creating_event_through_the_hook() -> None:
    source = inspect.getsource(K8sRunLauncher._launch_k8s_job_with_args)
    assert "self._report_run_worker_creating(" in source
    assert "self._api_client.create_namespaced_job_with_retries(" in source


def test_the_step_handler_still_builds_pods_from_its_container_context_hook() -> None:
    source = inspect.getsource(K8sStepHandler.launch_step)
    assert "self._get_container_context(" in source
    assert "self._api_client.create_namespaced_job_with_retries(" in source


def test_job_creation_retry_wait_is_a_keyword_of_the_client() -> None:
    parameters = inspect.signature(
        DagsterKubernetesClient.create_namespaced_job_with_retries
    ).parameters
    assert "wait_time_between_attempts" in parameters


def test_resume_attempt_number_takes_the_run() -> None:
    parameters = inspect.signature(K8sRunLauncher._get_resume_attempt_number).parameters
    assert tuple(parameters) == ("self", "run")


def test_executor_config_schema_and_step_handler_attribute(tmp_path: Path) -> None:
    from dagster import DagsterInstance
    from dagster._core.definitions.reconstruct import ReconstructableJob
    from dagster._core.executor.init import InitExecutorContext
    from dagster_k8s.executor import k8s_job_executor

    assert "job_namespace" in internals.EXECUTOR_CONFIG_SCHEMA
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
                "users": [{"name": "u", "user": {"token": "not-a-real-token"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    with DagsterInstance.ephemeral() as instance:
        context = InitExecutorContext(
            job=ReconstructableJob.for_file(__file__, "internals_job"),
            executor_def=k8s_job_executor,
            executor_config={
                "load_incluster_config": False,
                "kubeconfig_file": str(kubeconfig),
                "job_image": "img:1",
                "retries": {"enabled": {}},
            },
            instance=instance,
        )
        executor = k8s_job_executor.executor_creation_fn(context)  # type: ignore[misc]
        handler = internals.step_handler(executor)
        assert type(handler) is K8sStepHandler
        assert isinstance(internals.kubernetes_client(handler), DagsterKubernetesClient)

        class Sub(K8sStepHandler):
            pass

        internals.reclass_step_handler(executor, Sub)
        assert type(internals.step_handler(executor)) is Sub


FENCED = {
    "_api_client",
    "_get_resume_attempt_number",
    "_step_handler",
    "_merge_k8s_config",
    "_K8S_EXECUTOR_CONFIG_SCHEMA",
    "__class__",
}
"""dagster-k8s private attributes that only ``_dagster_k8s_internals.py`` may touch."""


def test_no_module_but_the_internals_touches_a_dagster_k8s_private_attribute() -> None:
    """Modules that import dagster_k8s reach its private attributes only through the fence."""
    import ast

    import floe_dagster_secrets

    package = Path(floe_dagster_secrets.__file__).parent
    offenders = []
    for path in sorted(package.rglob("*.py")):
        if path.name == "_dagster_k8s_internals.py":
            continue
        source = path.read_text()
        if "dagster_k8s" not in source:
            continue
        for node in ast.walk(ast.parse(source)):
            name = node.attr if isinstance(node, ast.Attribute) else None
            if isinstance(node, ast.alias):
                name = node.name
            if name in FENCED:
                offenders.append(f"{path.relative_to(package)}:{node.lineno}: {name}")  # type: ignore[attr-defined]
    assert offenders == [], "move these into launcher/_dagster_k8s_internals.py:\n" + "\n".join(
        offenders
    )
