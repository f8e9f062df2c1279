"""``FloeK8sRunLauncher``: dagster-k8s's run launcher, giving each run only the secrets it needs.

Two seams of ``K8sRunLauncher`` are extended, nothing else:

- ``launch_run`` (I/O, once per launch): work out the run's secrets from the assets it will
  execute plus the platform-wide ones, refuse literal credentials in the run's
  ``dagster-k8s/config`` tag (and in ``dagster.yaml``), refuse a service account the user set
  that the backend cannot work with (never replace it), check that every secret the pod takes
  from a Kubernetes Secret exists with its keys (metadata only: a WATCH-fed cache per
  namespace, started on the first launch there, else one LIST; see ``preflight``; a Vault-backed
  secret is read by the pod itself and not checked here), then let dagster-k8s create the Job.
  What the run was launched with is written before the Job, in the storage calls dagster-k8s
  makes anyway (see ``launch_record``): small run tags in its one ``add_run_tags`` call (the
  names, or their digest when long; one keyed fingerprint of all versions), and the per-secret
  record (names, versions, keyed fingerprints) in its "Creating Kubernetes run worker job"
  event. A failed check, or a failed tag write, leaves no Job; a failed check reports the run as
  failed with our error.
- ``get_container_context_for_run`` (terminate, debug info and health checks call it too):
  ``super()``'s context (launcher settings, code location ``container_context``, the run's tag),
  then ours merged *after* it, read back from the ``floe/secret-refs`` tag that ``launch_run``
  wrote (no I/O; a digest tag, for many secrets: the launch event, read once per run). Merging
  last means a user's shallow merge cannot drop our ``envFrom``. What the pod gets for each
  secret is the manifest's backend's decision (``ContributesToRunPod``).

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

import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Self

import yaml
from dagster import DagsterRun, DagsterRunStatus
from dagster_k8s import K8sRunLauncher
from dagster_k8s.container_context import K8sContainerContext
from dagster_k8s.job import (
    USER_DEFINED_K8S_CONFIG_KEY,
    construct_dagster_k8s_job,
    get_job_name_from_run_id,
    get_user_defined_k8s_config,
)
from dagster_k8s.job import UserDefinedDagsterK8sConfig as UserConfig
from dagster_k8s.utils import get_deployment_id_label

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
from floe_dagster_secrets.launcher.launch_record import (
    NOT_FINGERPRINTED,
    SECRETS_FINGERPRINT_TAG,
    LaunchRecord,
    is_refs_digest,
    refs_from_storage,
)
from floe_dagster_secrets.launcher.pod_env import (
    SECRET_REFS_TAG,
    literal_credential_env,
    literal_credential_error,
    literal_credentials_in_config,
    literal_instance_credentials_error,
    parse_refs_tag,
    preflight_errors,
    profiles_dir_conflict,
    profiles_mount,
    run_k8s_config,
    run_secret_names,
    service_account_conflict,
)
from floe_dagster_secrets.launcher.preflight import PreflightReader, profiles_config_map_check
from floe_dagster_secrets.launcher.selection import asset_secrets, run_asset_keys, run_repository
from floe_dagster_secrets.types import SecretMetadata

_log = logging.getLogger(__name__)

_FLOE_TAGS = (SECRET_REFS_TAG, SECRETS_FINGERPRINT_TAG)
_REFS_CACHE_SIZE = 1024


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
        self._lock = threading.Lock()
        self._launching: dict[str, _Launch] = {}  # run id -> what _prepare found, during launch
        self._refs: OrderedDict[str, tuple[str, ...]] = OrderedDict()  # digest tags, read once

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
        """``super()``'s context with the run's secrets merged last (no I/O: see module doc).

        During ``launch_run``, the context its check already built (dagster-k8s asks again while
        building the Job; building it costs more than the rest of floe's launch work).
        """
        with self._lock:
            launching = self._launching.get(dagster_run.run_id)
        if launching is not None:
            return launching.context
        context = super().get_container_context_for_run(dagster_run)
        names = self.secret_refs(dagster_run)
        return self.with_secrets(context, self.floe.contribution(names))

    def secret_refs(self, run: DagsterRun) -> tuple[str, ...]:
        """The secrets ``run`` was launched with, in ``envFrom`` order.

        From its ``floe/secret-refs`` tag; when that is a digest (many secrets), from the run's
        launch event, read once per run and kept (bounded).

        Raises:
            InvalidSecretReferenceError: a digest tag without a matching launch event.
        """
        value = run.tags.get(SECRET_REFS_TAG)
        if not is_refs_digest(value):
            return parse_refs_tag(value)
        with self._lock:
            launching = self._launching.get(run.run_id)
            if launching is not None:
                return launching.record.refs
            cached = self._refs.get(run.run_id)
        if cached is not None:
            return cached
        names = refs_from_storage(self._instance, run.run_id, str(value))
        with self._lock:
            self._refs[run.run_id] = names
            while len(self._refs) > _REFS_CACHE_SIZE:
                self._refs.popitem(last=False)
        return names

    def with_secrets(
        self, context: K8sContainerContext, contribution: RunPodContribution
    ) -> K8sContainerContext:
        """``context`` with ``contribution`` merged last; a service account set stays (pure)."""
        config = run_k8s_config(
            contribution,
            self.floe.pod,
            current_service_account=service_account_of(context),
            current_profiles_dir=profiles_dir_of(context),
        )
        ours = UserConfig.from_dict(config)  # type: ignore[no-untyped-call]
        return internals.merge_run_k8s_config(context, ours)

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
            prepared = self._prepare(run, context)
        except FloeSecretsError as e:
            self._fail_before_job(run, [e])
            return
        except _PreflightFailed as e:
            self._fail_before_job(run, e.errors)
            return
        # dagster-k8s builds the Job from this in-memory run and writes its tags (with ours, in
        # its one add_run_tags call) and its launch event (with our record) before the Job.
        tagged = run.with_tags({**run.tags, **_launch_tags(run, prepared.record)})
        with self._lock:
            self._launching[run.run_id] = prepared
        try:
            super().launch_run(LaunchRunContext(dagster_run=tagged, workspace=context.workspace))
        except Exception as e:
            if not is_kubernetes_client_error(e):
                raise
            namespace = str(self.get_container_context_for_run(tagged).namespace)
            error = job_creation_error(e, job_name=_job_name(run.run_id), namespace=namespace)
            self._report_failure(run, [error], "floe: could not create the Job of run")
            return
        finally:
            with self._lock:
                self._launching.pop(run.run_id, None)

    def _launch_k8s_job_with_args(
        self, job_name: str, args: Sequence[str] | None, run: DagsterRun
    ) -> None:
        """dagster-k8s's own, floe's tags in its one tag write (``_dagster_k8s_internals``).

        The one change: ``add_run_tags`` writes the image tag *and* floe's tags, in one storage
        call before the Job is created (dagster-postgres opens a connection per call; a second
        call was a third of the launch's time). A failed write leaves no Job. Everything else,
        line for line, as dagster-k8s builds and creates the Job; a test pins that source.
        """
        container_context = self.get_container_context_for_run(run)
        job_origin = run.job_code_origin
        if job_origin is None:
            raise ValueError(f"run {run.run_id} has no job code origin")
        user_defined_k8s_config = container_context.run_k8s_config
        repository_origin = job_origin.repository_origin
        job_config = container_context.get_k8s_job_config(
            job_image=repository_origin.container_image, run_launcher=self
        )
        labels = {"dagster/job": job_origin.job_name, "dagster/run-id": run.run_id}
        deployment_name_env_var = get_deployment_id_label(user_defined_k8s_config)
        if deployment_name_env_var:
            labels["dagster/deployment-name"] = deployment_name_env_var
        if run.remote_job_origin:
            labels["dagster/code-location"] = (
                run.remote_job_origin.repository_origin.code_location_origin.location_name
            )
        job = construct_dagster_k8s_job(
            job_config=job_config,
            args=args,
            job_name=job_name,
            pod_name=job_name,
            component="run_worker",
            user_defined_k8s_config=user_defined_k8s_config,
            labels=labels,
            env_vars=[{"name": "DAGSTER_RUN_JOB_NAME", "value": job_origin.job_name}],
        )
        ours = {key: run.tags[key] for key in _FLOE_TAGS if key in run.tags}
        image = job.spec.template.spec.containers[0].image
        self._instance.add_run_tags(run.run_id, {internals.DOCKER_IMAGE_TAG: image, **ours})
        namespace = container_context.namespace
        if namespace is None:
            raise ValueError(f"run {run.run_id} has no namespace")
        self._report_run_worker_creating(run, job_name, namespace)
        client = internals.kubernetes_client(self)
        client.create_namespaced_job_with_retries(body=job, namespace=namespace)
        self._report_run_worker_created(run)

    def _report_run_worker_creating(self, run: DagsterRun, job_name: str, namespace: str) -> None:
        """dagster-k8s's "Creating Kubernetes run worker job" event, with floe's launch record.

        One event instead of two (each is a storage write on the launch path), and the durable
        record of what the Job mounts (names, versions, keyed fingerprints: unbounded, so not in
        tags), written before the Job is created. A resumed run's new Job mounts the same names;
        their versions were checked at the first launch.
        """
        with self._lock:
            launching = self._launching.get(run.run_id)
        # resume_run: the same secrets as the launch recorded
        record = launching.record if launching else LaunchRecord(refs=self.secret_refs(run))
        self._instance.report_engine_event(
            "Creating Kubernetes run worker job",
            run,
            EngineEventData(
                {
                    "Kubernetes Job name": job_name,
                    "Kubernetes Namespace": namespace,
                    "Run ID": run.run_id,
                    **record.event_metadata(),
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

    def _prepare(self, run: DagsterRun, context: LaunchRunContext) -> _Launch:
        literal_config = self._instance_credentials()
        if literal_config:
            raise literal_instance_credentials_error(literal_config)
        user = get_user_defined_k8s_config(run.tags).to_dict()
        literal = literal_credential_env(user)
        if literal:
            raise literal_credential_error(literal, tag=USER_DEFINED_K8S_CONFIG_KEY)

        repository = run_repository(context.workspace, run)
        by_asset = asset_secrets(repository, run, run_asset_keys(self._instance, run, repository))
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
        current_profiles_dir = profiles_dir_of(theirs)
        profiles_conflict = profiles_dir_conflict(self.floe.pod, current_profiles_dir)
        if profiles_conflict is not None:
            raise profiles_conflict
        pod = self.with_secrets(theirs, contribution)
        config_map_errors = (
            self._profiles_config_map_errors(run, namespace)
            if profiles_mount(self.floe.pod, current_profiles_dir)
            else []
        )
        found: dict[str, SecretMetadata] = {}
        checked = contribution.kubernetes_secrets
        if not (self.floe.preflight_check and checked):
            if config_map_errors:
                raise _PreflightFailed(config_map_errors)
            return _Launch(LaunchRecord(refs=names), pod)
        required = {name: self.floe.keys_for(name) for name in checked}
        if self._preflight is None:  # watch-fed metadata cache, started on first launch
            self._preflight = PreflightReader.for_plugin(self.secrets_plugin())
        found = self._preflight.secrets_metadata(namespace, required)
        errors = [*preflight_errors(required, found, namespace=namespace), *config_map_errors]
        if errors:
            raise _PreflightFailed(errors)
        self._warn_non_portable_keys(run, found, namespace)
        versions = {name: found[name].version for name in checked}
        key = self.floe.fingerprint_key()
        return _Launch(LaunchRecord.checked(names, versions, namespace=namespace, key=key), pod)

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

    def _profiles_config_map_errors(
        self, run: DagsterRun, namespace: str
    ) -> list[FloeSecretsError]:
        """The error for a missing dbt profiles ConfigMap the pod would mount, if any.

        A pod whose ConfigMap volume is missing never starts (the kubelet retries the mount for
        ever), so it is checked with the secrets, before any Job. Could not be read (RBAC
        without ``get configmaps``, API trouble): a warning, and the launch goes on.
        """
        name = self.floe.pod.profiles_config_map
        if not (name and self.floe.preflight_check):
            return []
        core_api = internals.kubernetes_client(self).core_api
        check = profiles_config_map_check(core_api, name, namespace)
        if check.warning is not None:
            self._warn(run, check.warning)
        return [check.error] if check.error is not None else []

    def _warn(self, run: DagsterRun, message: str) -> None:
        """A warning the run goes on with: a log record and an engine event on the run."""
        _log.warning("run %s: %s", run.run_id, message)
        self._instance.report_engine_event(f"floe: warning: {message}", run, cls=type(self))

    def _warn_non_portable_keys(
        self, run: DagsterRun, found: Mapping[str, SecretMetadata], namespace: str
    ) -> None:
        """Warn (an engine event and a log record; the run goes on) about keys envFrom may skip.

        Key names come from the same metadata the check read; a secret floe did not write and
        whose keys the run does not require has unknown keys and is not judged.
        """
        warnings = []
        for name, meta in found.items():
            if not meta.keys_known:
                continue
            bad = non_portable_keys(meta.keys, prefix=self.floe.pod.prefixes.get(name, ""))
            if bad:
                warnings.append(non_portable_warning(name, bad, namespace=namespace))
        if warnings:
            self._warn(run, "\n".join(warnings))

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
        try:
            pod = self.floe.contribution(self.secret_refs(run))
        except FloeSecretsError:
            return []  # cannot tell: leave dagster-k8s's information alone
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


def _launch_tags(run: DagsterRun, record: LaunchRecord) -> dict[str, str]:
    """The run tags of this launch, overwriting those its parent run left on it.

    Dagster's retries and re-executions copy the parent's tags: a fingerprint this launch does
    not compute (nothing checked, no key) becomes ``none`` rather than the parent's value.
    """
    tags = record.tags()
    if SECRETS_FINGERPRINT_TAG in run.tags and SECRETS_FINGERPRINT_TAG not in tags:
        tags[SECRETS_FINGERPRINT_TAG] = NOT_FINGERPRINTED
    return tags


def service_account_of(context: K8sContainerContext) -> str | None:
    """The service account ``context`` gives the pod (launcher, code location, tag), if any."""
    account = context.run_k8s_config.pod_spec_config.get("service_account_name")
    return str(account) if account else None


def profiles_dir_of(context: K8sContainerContext) -> str | None:
    """The ``DBT_PROFILES_DIR`` ``context`` already gives the pod (its last setting), if any.

    Launcher ``env_vars``, the code location's ``container_context`` and the run's tag all end
    up in the container's ``env`` list; a value taken from a reference counts as set.
    """
    found: str | None = None
    for entry in context.run_k8s_config.container_config.get("env") or []:
        if isinstance(entry, Mapping) and entry.get("name") == "DBT_PROFILES_DIR":
            value = entry.get("value")
            found = str(value) if value is not None else "(set from a reference)"
    return found


def _job_name(run_id: str, resume_attempt: int | None = None) -> str:
    """dagster-k8s's name for the Job of ``run_id`` (typed wrapper)."""
    name: str = get_job_name_from_run_id(run_id, resume_attempt_number=resume_attempt)  # type: ignore[no-untyped-call]
    return name


@dataclass(frozen=True)
class _Launch:
    """What ``_prepare`` found for a run being launched: the record and the pod's context."""

    record: LaunchRecord
    context: K8sContainerContext


class _PreflightFailed(Exception):
    """Internal: carries every pre-flight error so all are reported at once."""

    def __init__(self, errors: list[Any]) -> None:
        super().__init__("pre-flight check failed")
        self.errors: list[FloeSecretsError] = errors
