"""``FloePipesK8sClient``: ``PipesK8sClient`` whose pod gets exactly its asset's secrets.

A pod launched through Pipes is created by the step, so the run launcher never sees it. This
client applies the launcher's rule to it (:mod:`floe_dagster_secrets.pipes.pod`), with the
launcher's own settings when the instance runs ``FloeK8sRunLauncher``, and reads the pod's output
through floe's masker (:mod:`floe_dagster_secrets.pipes.masked_logs`).

.. code-block:: python

    @dg.asset(metadata=secrets_metadata(["warehouse-prod-credentials"]))
    def orders(context: dg.AssetExecutionContext, pipes: FloePipesK8sClient):
        return pipes.run(context=context, image="my/etl:1", command=["python", "etl.py"])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dagster import AssetExecutionContext, OpExecutionContext
from dagster._core.pipes.client import PipesClientCompletedInvocation
from dagster_k8s.pipes import PipesK8sClient

from floe_dagster_secrets.errors import InvalidManifestError, InvalidSecretReferenceError
from floe_dagster_secrets.launcher import config as launcher_config
from floe_dagster_secrets.masking import install_masker
from floe_dagster_secrets.pipes.masked_logs import MaskedPodLogsMessageReader
from floe_dagster_secrets.pipes.pod import pipes_pod_spec, step_secret_names

DEFAULT_SECRETS_RESOURCE_KEY = "secrets"


def step_asset_metadata(
    context: OpExecutionContext | AssetExecutionContext,
) -> list[Mapping[str, Any]]:
    """Metadata of each asset the step executes (none for a plain op)."""
    if not context.has_assets_def:
        return []
    specs = context.assets_def.specs_by_key
    return [specs[key].metadata or {} for key in sorted(context.selected_asset_keys, key=str)]


def launcher_settings(
    context: OpExecutionContext | AssetExecutionContext,
    secrets_config: Mapping[str, Any] | None,
) -> launcher_config.LauncherSecrets:
    """The launcher's resolved settings: from ``secrets_config``, else the instance's launcher.

    Raises:
        InvalidManifestError: neither is available, so the pod's secrets cannot be decided.
    """
    if secrets_config is not None:
        return launcher_config.resolve(secrets_config, service_account_name=None)
    floe = getattr(context.instance.run_launcher, "floe", None)
    if isinstance(floe, launcher_config.LauncherSecrets):
        return floe
    raise InvalidManifestError(
        "FloePipesK8sClient cannot tell which secrets the Pipes pod gets: the instance's run "
        f"launcher is {type(context.instance.run_launcher).__name__}, not FloeK8sRunLauncher, "
        "and no secrets_config was given",
        fix="run under FloeK8sRunLauncher (dagster.yaml run_launcher), or pass "
        "secrets_config={'manifest_path': '/path/to/manifest.yaml'} (the launcher's floe keys)",
    )


class FloePipesK8sClient(PipesK8sClient):
    """A ``PipesK8sClient`` that gives its pod the launching asset's secrets, and masks its output.

    Args:
        secrets_config: The run launcher's floe settings (``manifest_path``,
            ``platform_secrets``, ``secret_prefixes``, ``dbt_profiles_config_map`` …) when the
            instance does not run ``FloeK8sRunLauncher``; ``None``: the launcher's own.
        secrets_resource_key: The ``FloeSecretsResource`` through which the step reads the
            pod's secrets before launching it: a missing secret fails the step with our error
            instead of a pod stuck in ``CreateContainerConfigError``, and the values become
            known to the masker that reads the pod's output; the step must have that resource
            (``required_resource_keys``). ``None``: not read (output is then masked only for
            values this process already knows).
        **kwargs: Everything ``PipesK8sClient`` takes; ``message_reader`` defaults to
            :class:`~floe_dagster_secrets.pipes.masked_logs.MaskedPodLogsMessageReader`.
    """

    def __init__(
        self,
        *,
        secrets_config: Mapping[str, Any] | None = None,
        secrets_resource_key: str | None = DEFAULT_SECRETS_RESOURCE_KEY,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("message_reader", MaskedPodLogsMessageReader())
        super().__init__(**kwargs)
        self.secrets_config = dict(secrets_config) if secrets_config is not None else None
        self.secrets_resource_key = secrets_resource_key
        install_masker()

    def pod_secret_names(
        self, context: OpExecutionContext | AssetExecutionContext
    ) -> tuple[str, ...]:
        """The secrets the pod launched from ``context`` gets (platform + the step's assets)."""
        settings = launcher_settings(context, self.secrets_config)
        return step_secret_names(settings, step_asset_metadata(context))

    def _read_for_masking(
        self, context: OpExecutionContext | AssetExecutionContext, names: Sequence[str]
    ) -> None:
        key = self.secrets_resource_key
        if key is None or not names:
            return
        resource = getattr(context.resources, key, None)
        if resource is None:
            raise InvalidSecretReferenceError(
                f"The Pipes pod of step '{context.op_execution_context.op.name}' gets secrets "
                f"{', '.join(names)}, but the step has no '{key}' resource to read them through, "
                "so its output could not be masked",
                fix=f"add '{key}' to the asset's required_resource_keys (or take a "
                f"FloeSecretsResource parameter named {key}), or pass "
                "secrets_resource_key=None to FloePipesK8sClient to launch without masking them",
            )
        for name in names:
            resource.get_secret(name)  # SecretValue registers every value with the masker

    def run(
        self,
        *,
        context: OpExecutionContext | AssetExecutionContext,
        base_pod_spec: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> PipesClientCompletedInvocation:
        """``PipesK8sClient.run`` with the step's secrets added to ``base_pod_spec``.

        Raises:
            FloeSecretsError: a secret of the pod is missing or unreadable, or the spec's service
                account conflicts with the backend's (before any pod is created).
        """
        settings = launcher_settings(context, self.secrets_config)
        names = step_secret_names(settings, step_asset_metadata(context))
        spec = pipes_pod_spec(names, settings, base_pod_spec)
        self._read_for_masking(context, names)
        context.log.info(
            f"floe: Pipes pod gets secrets {', '.join(names) or '(none)'} (names only)"
        )
        result: PipesClientCompletedInvocation = super().run(
            context=context, base_pod_spec=spec, **kwargs
        )
        return result
