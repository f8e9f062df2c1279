"""The backend decides what a run's pod gets (``ContributesToRunPod``); pure, no server reached."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from floe_dagster_secrets.backends.base import ContributesToRunPod
from floe_dagster_secrets.backends.eso import ESOSecretsPlugin
from floe_dagster_secrets.backends.kubernetes import K8sSecretsPlugin
from floe_dagster_secrets.backends.local import LocalSecretsPlugin
from floe_dagster_secrets.backends.vault import VaultSecretsPlugin
from floe_dagster_secrets.kube.pod_spec import RunPodContribution, RunPodSettings
from floe_dagster_secrets.launcher.pod_env import PodSecretsSettings, pod_contribution

PREFIXES = {"warehouse-credentials": "DBT_ENV_SECRET_"}
NAMES = ("warehouse-credentials", "api-x-secret")


def _vault(**kwargs: object) -> VaultSecretsPlugin:
    return VaultSecretsPlugin(address="https://vault.example:8200/", **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "make",
    [K8sSecretsPlugin, lambda: ESOSecretsPlugin(store="openbao")],
    ids=["k8s", "external-secrets"],
)
def test_kubernetes_and_eso_give_prefixed_env_from_and_ask_for_a_kubernetes_preflight(
    make: Callable[[], K8sSecretsPlugin | ESOSecretsPlugin],
) -> None:
    plugin = make()  # constructing either makes no request
    assert isinstance(plugin, ContributesToRunPod)
    pod = plugin.run_pod_contribution(NAMES, RunPodSettings(prefixes=PREFIXES))
    assert pod == RunPodContribution(
        env_from=(
            {"secret_ref": {"name": "warehouse-credentials"}, "prefix": "DBT_ENV_SECRET_"},
            {"secret_ref": {"name": "api-x-secret"}},
        ),
        kubernetes_secrets=NAMES,
    )
    plugin.close()


def test_vault_gives_its_login_as_plain_env_no_kubernetes_secret_and_its_account() -> None:
    plugin = _vault(role="floe-runner", mount_path="k8s-prod")
    assert isinstance(plugin, ContributesToRunPod)
    pod = plugin.run_pod_contribution(NAMES, RunPodSettings(prefixes=PREFIXES))
    assert pod.env_from == ()
    assert pod.kubernetes_secrets == ()
    assert pod.env == (
        {"name": "VAULT_ADDR", "value": "https://vault.example:8200"},
        {"name": "FLOE_VAULT_AUTH_ROLE", "value": "floe-runner"},
        {"name": "FLOE_VAULT_AUTH_MOUNT", "value": "k8s-prod"},
    )
    assert pod.service_account_name == "floe-job-runner"
    assert "'floe-runner'" in pod.service_account_reason
    assert "k8s-prod" in pod.service_account_reason
    assert not any("TOKEN" in e["name"] for e in pod.env)


def test_vault_role_is_bound_to_the_launchers_account_when_it_sets_one() -> None:
    pod = _vault().run_pod_contribution((), RunPodSettings(service_account_name="team-runner"))
    assert pod.service_account_name == "team-runner"


def test_vault_takes_the_launchers_overrides_of_where_the_pod_logs_in() -> None:
    overrides = {
        "vault_address": "http://vault.vault.svc:8200",
        "vault_role": "runs",
        "vault_auth_mount": "kubernetes-prod",
        "unrelated_setting": "ignored",
    }
    pod = _vault().run_pod_contribution((), RunPodSettings(overrides=overrides))
    assert pod.env == (
        {"name": "VAULT_ADDR", "value": "http://vault.vault.svc:8200"},
        {"name": "FLOE_VAULT_AUTH_ROLE", "value": "runs"},
        {"name": "FLOE_VAULT_AUTH_MOUNT", "value": "kubernetes-prod"},
    )


def test_vault_without_kubernetes_auth_requires_no_service_account() -> None:
    plugin = _vault(auth_method="approle", role_id_env="ROLE_ID", secret_id_env="SECRET_ID")
    pod = plugin.run_pod_contribution(NAMES, RunPodSettings())
    assert pod.service_account_name is None
    assert pod.env_from == ()


def test_platform_secrets_stay_kubernetes_secrets_whatever_the_backend() -> None:
    settings = PodSecretsSettings(prefixes={"polaris-oauth": "POLARIS_"})
    pod = pod_contribution(
        ("polaris-oauth", "warehouse-credentials"),
        platform_secrets=("polaris-oauth",),
        backend=_vault(),
        settings=settings,
    )
    assert pod.env_from == ({"secret_ref": {"name": "polaris-oauth"}, "prefix": "POLARIS_"},)
    assert pod.kubernetes_secrets == ("polaris-oauth",)  # the Vault-backed one: not checked here
    assert [e["name"] for e in pod.env] == [
        "VAULT_ADDR",
        "FLOE_VAULT_AUTH_ROLE",
        "FLOE_VAULT_AUTH_MOUNT",
    ]
    assert pod.service_account_name == "floe-job-runner"


def test_backend_without_the_capability_or_no_manifest_means_kubernetes_secrets(
    tmp_path: Path,
) -> None:
    local = LocalSecretsPlugin(path=tmp_path)
    assert not isinstance(local, ContributesToRunPod)
    for backend in (local, None):
        pod = pod_contribution(
            NAMES, platform_secrets=(), backend=backend, settings=PodSecretsSettings()
        )
        assert pod.kubernetes_secrets == NAMES
        assert [e["secret_ref"]["name"] for e in pod.env_from] == list(NAMES)
        assert pod.service_account_name is None


def test_only_the_kubernetes_backend_offers_its_client_for_the_preflight_watch(
    tmp_path: Path,
) -> None:
    """``PreflightReader`` asks for the capability, never for a class or a private attribute."""
    from kubernetes.client import ApiClient

    from floe_dagster_secrets.backends.base import ProvidesKubernetesClient
    from floe_dagster_secrets.launcher.preflight import PreflightReader

    given = ApiClient()
    k8s_plugin = K8sSecretsPlugin(api_client=given)
    assert isinstance(k8s_plugin, ProvidesKubernetesClient)
    assert k8s_plugin.kubernetes_api_client() is given
    reader = PreflightReader.for_plugin(k8s_plugin)
    assert reader.cache is not None
    reader.close()
    for other in (ESOSecretsPlugin(store="s"), _vault(), LocalSecretsPlugin(path=tmp_path)):
        assert not isinstance(other, ProvidesKubernetesClient)
        assert PreflightReader.for_plugin(other).cache is None
    given.close()
