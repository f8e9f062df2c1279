"""``FloeK8sRunLauncher``: dagster-k8s's run launcher, giving each run only the secrets it needs.

Two seams of ``K8sRunLauncher`` are extended, nothing else:

- ``launch_run`` (I/O, once per launch): work out the run's secrets from the assets it will
  execute plus the platform-wide ones, refuse literal credentials in the run's
  ``dagster-k8s/config`` tag (and in ``dagster.yaml``), refuse a service account the user set
  that the backend cannot work with (never replace it), check that every secret the pod takes
  from a Kubernetes Secret exists with its keys (metadata only: a WATCH-fed cache per
  namespace, started on the first launch there, else one LIST; see ``preflight``; a Vault-backed
  secret is read by the pod itself and not checked here), then let dagster-k8s create the Job, whose
  "Creating Kubernetes run worker job" event names the refs and versions; names, versions and
  keyed fingerprints are then recorded as run tags. A failed check reports the run as failed
  with our error and creates no Job.
- ``get_container_context_for_run`` (pure; terminate, debug info and health checks call it too):
  ``super()``'s context (launcher settings, code location ``container_context``, the run's tag),
  then ours merged *after* it, read back from the ``floe/secret-refs`` tag that ``launch_run``
  wrote. Merging last means a user's shallow merge cannot drop our ``envFrom``. What the pod
  gets for each secret is the manifest's backend's decision (``ContributesToRunPod``).

Differences from ``K8sRunLauncher`` a user of dagster-k8s may notice are listed in
``docs/launcher.md``.

``dagster.yaml``:

.. code-block:: yaml

    run_launcher:
      module: floe_dagster_secrets.launcher
      class: FloeK8sRunLauncher
      config:
        job_namespace: floe-jobs
        instance_config_map: dagster-instance
        service_account_name: floe-job-runner     # as in dagster-k8s: yours, never replaced
        manifest_path: /opt/floe/manifest.yaml     # compute secret, key policies, Vault login
        platform_secrets: [polaris-oauth-credentials]
        fingerprint_key_env: FLOE_LAUNCHER_FINGERPRINT_KEY
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Self

import yaml
from dagster import DagsterRun, DagsterRunStatus
from dagster_k8s import K8sRunLauncher
from dagster_k8s.container_context import K8sContainerContext
from dagster_k8s.job import (
    USER_DEFINED_K8S_CONFIG_KEY,
    get_job_name_from_run_id,
    get_user_defined_k8s_config,
)
from dagster_k8s.job import UserDefinedDagsterK8sConfig as UserConfig

from floe_dagster_secrets._dagster_internals import (
    ConfigurableClassData,
    EngineEventData,
    LaunchRunContext,
)
from floe_dagster_secrets.backends.base import SecretsPlugin
from floe_dagster_secrets.env_names import non_portable_keys, non_portable_warning
from floe_dagster_secrets.errors import FloeSecretsError
from floe_dagster_secrets.kube.pod_spec import RunPodContribution
from floe_dagster_secrets.launcher import _dagster_k8s_internals as internals
from floe_dagster_secrets.launcher import config as launcher_config
from floe_dagster_secrets.launcher.job_faults import (
    DEFAULT_JOB_REQUEST_TIMEOUT,
    bound_requests,
    delete_job,
    gone_secrets_errors,
    is_kubernetes_client_error,
    job_creation_error,
)
from floe_dagster_secrets.launcher.pod_env import (
    SECRET_FINGERPRINTS_TAG,
    SECRET_REFS_TAG,
    SECRET_VERSIONS_TAG,
    fingerprint,
    format_refs_tag,
    literal_credential_env,
    literal_credential_error,
    literal_credentials_in_config,
    literal_instance_credentials_error,
    parse_refs_tag,
    preflight_errors,
    run_k8s_config,
    run_secret_names,
    service_account_conflict,
)
from floe_dagster_secrets.launcher.preflight import PreflightReader
from floe_dagster_secrets.launcher.selection import asset_secrets_from_workspace, run_asset_keys
from floe_dagster_secrets.types import SecretMetadata

_log = logging.getLogger(__name__)


class FloeK8sRunLauncher(K8sRunLauncher):
    """A ``K8sRunLauncher`` that mounts per-run, least-privilege secrets into each run's Job.

    Args:
        secrets: Resolved floe settings (from the ``dagster.yaml`` fields in
            :data:`~floe_dagster_secrets.launcher.config.FLOE_FIELDS`).
        secrets_plugin: Backend used for the pre-flight check (metadata only); default: a
            ``K8sSecretsPlugin`` on the launcher's own kubeconfig or in-cluster credentials.
        **kwargs: Everything ``K8sRunLauncher`` takes. ``k8s_client_batch_api`` and
            ``k8s_client_core_api`` are used as given: only API objects the launcher creates
            itself get its request timeout.
    """

    job_request_timeout: ClassVar[tuple[float, float]] = DEFAULT_JOB_REQUEST_TIMEOUT
    """Cap, (connect, read) seconds, on each of dagster-k8s's requests (most set no timeout)."""
    job_create_retry_wait: ClassVar[float | None] = None
    """Seconds between dagster-k8s's 4 attempts at creating a Job; ``None``: its own 10 s."""

    def __init__(
        self,
        *,
        secrets: launcher_config.LauncherSecrets | None = None,
        secrets_plugin: SecretsPlugin | None = None,
        **kwargs: Any,
    ) -> None:
        # dagster-k8s requires a string; "" sets none (the namespace's default account)
        account = kwargs.get("service_account_name") or ""
        kwargs["service_account_name"] = account
        injected = [kwargs.get("k8s_client_batch_api"), kwargs.get("k8s_client_core_api")]
        self._injected_core_api: Any = injected[1]
        super().__init__(**kwargs)
        client = internals.kubernetes_client(self)
        for api in (client.batch_api, client.core_api):
            if not any(api is given for given in injected):  # the caller's objects stay theirs
                bound_requests(api.api_client, self.job_request_timeout)
        if self.job_create_retry_wait is not None:
            internals.set_job_create_retry_wait(client, self.job_create_retry_wait)
        self.floe = secrets or launcher_config.resolve({}, service_account_name=account or None)
        self._secrets_plugin = secrets_plugin
        self._instance_literals: list[str] | None = None
        self._preflight: PreflightReader | None = None

    # --- dagster.yaml ---------------------------------------------------------------------------

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        """dagster-k8s's run launcher schema plus floe's fields."""
        base: dict[str, Any] = K8sRunLauncher.config_type()  # type: ignore[no-untyped-call]
        return {**base, **launcher_config.FLOE_FIELDS}

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]
    ) -> Self:
        """Split the config into ours and dagster-k8s's, and resolve ours (reads the manifest)."""
        ours = {k: v for k, v in config_value.items() if k in launcher_config.FLOE_FIELDS}
        theirs = {k: v for k, v in config_value.items() if k not in launcher_config.FLOE_FIELDS}
        account = theirs.get("service_account_name") or None
        resolved = launcher_config.resolve(ours, service_account_name=account)
        return cls(inst_data=inst_data, secrets=resolved, **theirs)

    # --- the pure seam ------------------------------------------------------------------------

    def get_container_context_for_run(self, dagster_run: DagsterRun) -> K8sContainerContext:
        """``super()``'s context with the run's secrets merged last (no I/O: see module doc)."""
        context = super().get_container_context_for_run(dagster_run)
        names = parse_refs_tag(dagster_run.tags.get(SECRET_REFS_TAG))
        return self.with_secrets(context, self.floe.contribution(names))

    def with_secrets(
        self, context: K8sContainerContext, contribution: RunPodContribution
    ) -> K8sContainerContext:
        """``context`` with ``contribution`` merged last; a service account set stays (pure)."""
        current = service_account_of(context)
        config = run_k8s_config(contribution, self.floe.pod, current_service_account=current)
        ours = UserConfig.from_dict(config)  # type: ignore[no-untyped-call]
        return context.merge(K8sContainerContext(run_k8s_config=ours))

    # --- launch -------------------------------------------------------------------------------

    def secrets_plugin(self) -> SecretsPlugin:
        """The metadata reader for the pre-flight check, created on first use.

        A ``k8s_client_core_api`` passed to the constructor is read through (its ``ApiClient``,
        as given, not closed by the launcher); otherwise a client of the launcher's own from
        ``kubeconfig_file`` or the in-cluster credentials.
        """
        if self._secrets_plugin is None:
            from kubernetes.client import ApiClient

            from floe_dagster_secrets.backends.kubernetes import K8sSecretsPlugin

            given = getattr(self._injected_core_api, "api_client", None)
            if isinstance(given, ApiClient):
                self._secrets_plugin = K8sSecretsPlugin(api_client=given)
            elif self.load_incluster_config:
                self._secrets_plugin = K8sSecretsPlugin(in_cluster=True)
            else:
                self._secrets_plugin = K8sSecretsPlugin(kubeconfig=self.kubeconfig_file)
        return self._secrets_plugin

    def launch_run(self, context: LaunchRunContext) -> None:
        """Check and record the run's secrets, then create the Job (or fail the run, no Job)."""
        run = context.dagster_run
        try:
            tags = self._prepare(run, context)
        except FloeSecretsError as e:
            self._fail_before_job(run, [e])
            return
        except _PreflightFailed as e:
            self._fail_before_job(run, e.errors)
            return
        # dagster-k8s builds the Job from this in-memory run; its "Creating Kubernetes run worker
        # job" event (written before the Job is created) already names refs and versions, so the
        # tags are written after the Job exists, off the launch's critical path.
        tagged = run.with_tags({**run.tags, **tags})
        try:
            super().launch_run(LaunchRunContext(dagster_run=tagged, workspace=context.workspace))
        except Exception as e:
            if not is_kubernetes_client_error(e):
                raise
            namespace = str(self.get_container_context_for_run(tagged).namespace)
            error = job_creation_error(e, job_name=_job_name(run.run_id), namespace=namespace)
            self._report_failure(run, [error], "floe: could not create the Job of run")
            return
        self._instance.add_run_tags(run.run_id, tags)

    def _report_run_worker_creating(self, run: DagsterRun, job_name: str, namespace: str) -> None:
        """dagster-k8s's "Creating Kubernetes run worker job" event, naming the secret refs.

        One event instead of two (each is a storage write on the launch path), and the durable
        record of what the Job mounts, written before the Job is created.
        """
        refs = run.tags.get(SECRET_REFS_TAG) or "(none)"
        self._instance.report_engine_event(
            "Creating Kubernetes run worker job",
            run,
            EngineEventData(
                {
                    "Kubernetes Job name": job_name,
                    "Kubernetes Namespace": namespace,
                    "Run ID": run.run_id,
                    "floe secret refs": refs,
                    "floe secret versions": run.tags.get(SECRET_VERSIONS_TAG, "(not checked)"),
                    "floe secret fingerprints": run.tags.get(SECRET_FINGERPRINTS_TAG, "(no key)"),
                }
            ),
            cls=type(self),
        )

    def _instance_credentials(self) -> list[str]:
        """Paths of literal credentials in the instance config (checked once per launcher)."""
        if self._instance_literals is None:
            ref = self._instance.get_ref()
            found = literal_credentials_in_config(ref.settings, "settings")
            for field in ref._fields:
                data = getattr(ref, field)
                yaml_text = getattr(data, "config_yaml", None)
                if yaml_text:
                    parsed = yaml.safe_load(yaml_text)
                    found.extend(literal_credentials_in_config(parsed, field))
            self._instance_literals = found
        return self._instance_literals

    def _prepare(self, run: DagsterRun, context: LaunchRunContext) -> dict[str, str]:
        literal_config = self._instance_credentials()
        if literal_config:
            raise literal_instance_credentials_error(literal_config)
        user = get_user_defined_k8s_config(run.tags).to_dict()
        literal = literal_credential_env(user)
        if literal:
            raise literal_credential_error(literal, tag=USER_DEFINED_K8S_CONFIG_KEY)

        by_asset = asset_secrets_from_workspace(
            context.workspace, run, run_asset_keys(self._instance, run)
        )
        names = run_secret_names(self.floe.platform_secrets, by_asset.values())
        theirs = super().get_container_context_for_run(run)
        namespace = str(theirs.namespace)
        contribution = self.floe.contribution(names)
        account = service_account_of(theirs)
        conflict = service_account_conflict(
            contribution,
            account,
            where=self._service_account_source(run, account),
            backend=self.floe.backend.name if self.floe.backend is not None else "k8s",
        )
        if conflict is not None:
            raise conflict
        tags = {SECRET_REFS_TAG: format_refs_tag(names)}
        found: dict[str, SecretMetadata] = {}
        checked = contribution.kubernetes_secrets
        if self.floe.preflight_check and checked:
            required = {name: self.floe.keys_for(name) for name in checked}
            if self._preflight is None:  # watch-fed metadata cache, started on first launch
                self._preflight = PreflightReader.for_plugin(self.secrets_plugin())
            found = self._preflight.secrets_metadata(namespace, required)
            errors = preflight_errors(required, found, namespace=namespace)
            if errors:
                raise _PreflightFailed(errors)
            tags.update(self._version_tags(checked, found, namespace))
            self._warn_non_portable_keys(run, found, namespace)
        return tags

    def _service_account_source(self, run: DagsterRun, account: str | None) -> str:
        """Where ``account``, the run pod's service account, was set (for an error message)."""
        tag = get_user_defined_k8s_config(run.tags).pod_spec_config.get("service_account_name")
        if tag and tag == account:
            return f"set in the run's '{USER_DEFINED_K8S_CONFIG_KEY}' tag, pod_spec_config"
        launcher_run_config: Mapping[str, Any] = dict(self.run_k8s_config or {})
        pod_spec: Mapping[str, Any] = launcher_run_config.get("pod_spec_config") or {}
        ours = pod_spec.get("service_account_name") or self.service_account_name
        if ours and ours == account:
            return "set in run_launcher.config"
        return "set in the code location's container_context (k8s)"

    def _warn_non_portable_keys(
        self, run: DagsterRun, found: Mapping[str, SecretMetadata], namespace: str
    ) -> None:
        """Warn (an engine event and a log record; the run goes on) about keys envFrom may skip.

        Key names come from the same metadata the check read; a secret floe did not write and
        whose keys the run does not require has unknown keys and is not judged.
        """
        warnings = []
        for name, meta in found.items():
            if not meta.extra.get("keys_known", True):
                continue
            bad = non_portable_keys(meta.keys, prefix=self.floe.pod.prefixes.get(name, ""))
            if bad:
                warnings.append(non_portable_warning(name, bad, namespace=namespace))
        if warnings:
            message = "\n".join(warnings)
            _log.warning("run %s: %s", run.run_id, message)
            self._instance.report_engine_event(f"floe: warning: {message}", run, cls=type(self))

    def _version_tags(
        self, names: tuple[str, ...], found: Mapping[str, SecretMetadata], namespace: str
    ) -> dict[str, str]:
        versions = {name: found[name].version for name in names}
        tags = {SECRET_VERSIONS_TAG: json.dumps(versions, sort_keys=True)}
        key = self.floe.fingerprint_key()
        if key is not None:
            prints = {
                name: fingerprint(key, namespace=namespace, name=name, version=version)
                for name, version in versions.items()
            }
            tags[SECRET_FINGERPRINTS_TAG] = json.dumps(prints, sort_keys=True)
        return tags

    def _fail_before_job(self, run: DagsterRun, errors: list[FloeSecretsError]) -> None:
        self._report_failure(run, errors, "floe: no Job created, not launching run")

    def _report_failure(
        self, run: DagsterRun, errors: Sequence[FloeSecretsError], headline: str
    ) -> None:
        message = "\n".join(str(e) for e in errors)
        self._instance.report_engine_event(
            f"{headline} {run.run_id}:\n{message}",
            run,
            EngineEventData(
                {
                    "secret": ", ".join(sorted({e.secret for e in errors if e.secret})),
                    "namespace": ", ".join(sorted({e.namespace for e in errors if e.namespace})),
                }
            ),
            cls=type(self),
        )
        self._instance.report_run_failed(run, message=message)

    # --- after the launch -----------------------------------------------------------------------

    def get_run_worker_debug_info(
        self, run: DagsterRun, include_container_logs: bool | None = True
    ) -> str | None:
        """dagster-k8s's pod/Job details, led by floe's diagnosis of a run that cannot start.

        Run monitoring calls this when it fails a run that took too long to start. If one of
        the run's secrets is gone (deleted after the pre-flight check), the pod can never
        start; the diagnosis names the secret and the fix, and the Job is deleted.
        """
        errors = self._secrets_gone(run)
        theirs = super().get_run_worker_debug_info(run, include_container_logs)
        if not errors:
            return theirs
        namespace = str(self.get_container_context_for_run(run).namespace)
        job_name = _job_name(run.run_id, internals.resume_attempt_number(self, run))
        delete_job(internals.kubernetes_client(self).batch_api, job_name, namespace)
        return "\n".join([*(str(e) for e in errors), theirs or ""]).strip()

    def _secrets_gone(self, run: DagsterRun) -> list[FloeSecretsError]:
        """Our errors for the secrets of a not-yet-started run that no longer pass the check."""
        if run.status not in (DagsterRunStatus.STARTING, DagsterRunStatus.NOT_STARTED):
            return []  # a started pod has its environment already
        pod = self.floe.contribution(parse_refs_tag(run.tags.get(SECRET_REFS_TAG)))
        names_checked = pod.kubernetes_secrets  # what the kubelet needs; Vault's are the pod's
        if not names_checked or not self.floe.preflight_check:
            return []
        namespace = str(self.get_container_context_for_run(run).namespace)
        required = {name: self.floe.keys_for(name) for name in names_checked}
        if self._preflight is None:
            self._preflight = PreflightReader.for_plugin(self.secrets_plugin())
        try:  # a missing secret is confirmed by a direct LIST, never by the cache alone
            found = self._preflight.secrets_metadata(namespace, required)
        except FloeSecretsError:
            return []  # cannot tell: leave dagster-k8s's information alone
        job_name = _job_name(run.run_id, internals.resume_attempt_number(self, run))
        return list(
            gone_secrets_errors(
                names_checked, required, found, namespace=namespace, job_name=job_name
            )
        )

    def dispose(self) -> None:
        """Stop the metadata cache's watches and close the pre-flight reader's client."""
        if self._preflight is not None:
            self._preflight.close()
        if self._secrets_plugin is not None:
            self._secrets_plugin.close()
        super().dispose()


def service_account_of(context: K8sContainerContext) -> str | None:
    """The service account ``context`` gives the pod (launcher, code location, tag), if any."""
    account = context.run_k8s_config.pod_spec_config.get("service_account_name")
    return str(account) if account else None


def _job_name(run_id: str, resume_attempt: int | None = None) -> str:
    """dagster-k8s's name for the Job of ``run_id`` (typed wrapper)."""
    name: str = get_job_name_from_run_id(run_id, resume_attempt_number=resume_attempt)  # type: ignore[no-untyped-call]
    return name


class _PreflightFailed(Exception):
    """Internal: carries every pre-flight error so all are reported at once."""

    def __init__(self, errors: list[Any]) -> None:
        super().__init__("pre-flight check failed")
        self.errors: list[FloeSecretsError] = errors
