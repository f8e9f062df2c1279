"""plan_restarts: which workloads consume a secret, which Reloader handles; the restart patch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from floe_dagster_secrets.kube.rollout import (
    RESTARTED_AT,
    Workload,
    names,
    plan_restarts,
    referenced_secrets,
    restart_patch,
)

SECRET = "postgres-prod-credentials"
NS = "floe-jobs"


def workload(
    kind: str,
    name: str,
    pod_spec: dict[str, Any],
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "kind": kind,
        "metadata": {"name": name, "namespace": NS, "annotations": annotations or {}},
        "spec": {"template": {"spec": pod_spec}},
    }


def env_from(secret: str = SECRET) -> dict[str, Any]:
    return {"containers": [{"name": "c", "envFrom": [{"secretRef": {"name": secret}}]}]}


def test_every_reference_form_counts() -> None:
    spec = {
        "initContainers": [{"name": "i", "envFrom": [{"secretRef": {"name": "a-x-secret"}}]}],
        "containers": [
            {
                "name": "c",
                "env": [
                    {
                        "name": "X",
                        "valueFrom": {"secretKeyRef": {"name": "b-x-secret", "key": "K"}},
                    },
                    {"name": "Y", "value": "plain"},
                    {"name": "Z", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "K"}}},
                ],
                "envFrom": [{"configMapRef": {"name": "cm2"}}],
            }
        ],
        "volumes": [
            {"name": "v", "secret": {"secretName": "c-x-secret"}},
            {
                "name": "p",
                "projected": {
                    "sources": [{"secret": {"name": "d-x-secret"}}, {"configMap": {"name": "cm3"}}]
                },
            },
            {"name": "e", "emptyDir": {}},
        ],
        "imagePullSecrets": [{"name": "pull-x-secret"}],
    }
    assert referenced_secrets(spec) == {"a-x-secret", "b-x-secret", "c-x-secret", "d-x-secret"}


def test_plan_restarts_consumers_only_and_never_jobs() -> None:
    items = [
        workload("Deployment", "dagster-webserver", env_from()),
        workload("Deployment", "dagster-daemon", env_from()),
        workload("Deployment", "unrelated", env_from("other-x-secret")),
        workload(
            "StatefulSet", "db", {"volumes": [{"name": "v", "secret": {"secretName": SECRET}}]}
        ),
        workload("DaemonSet", "agent", env_from()),
        workload("Job", "run-1", env_from()),
        workload("CronJob", "nightly", env_from()),
        workload("Pod", "run-pod", env_from()),
    ]
    plan = plan_restarts(items, SECRET, NS)
    assert [(w.kind, w.name) for w in plan.restart] == [
        ("Deployment", "dagster-daemon"),
        ("Deployment", "dagster-webserver"),
        ("StatefulSet", "db"),
        ("DaemonSet", "agent"),
    ]
    assert plan.skipped_reloader == ()
    assert (
        names(plan.restart) == "dagster-daemon, dagster-webserver, statefulset/db, daemonset/agent"
    )


def test_workloads_in_other_namespaces_are_ignored() -> None:
    item = workload("Deployment", "elsewhere", env_from())
    item["metadata"]["namespace"] = "other"
    assert plan_restarts([item], SECRET, NS).restart == ()


def test_reloader_modes_are_skipped() -> None:
    items = [
        workload("Deployment", "auto", env_from(), {"reloader.stakater.com/auto": "true"}),
        workload("Deployment", "auto-off", env_from(), {"reloader.stakater.com/auto": "false"}),
        workload(
            "Deployment",
            "named",
            env_from(),
            {"secret.reloader.stakater.com/reload": f"x-y-secret, {SECRET}"},
        ),
        workload(
            "Deployment",
            "named-other",
            env_from(),
            {"secret.reloader.stakater.com/reload": "x-y-secret"},
        ),
        workload("Deployment", "search", env_from(), {"reloader.stakater.com/search": "true"}),
    ]
    plan = plan_restarts(items, SECRET, NS)
    assert [w.name for w in plan.skipped_reloader] == ["auto", "named"]
    assert [w.name for w in plan.restart] == ["auto-off", "named-other", "search"]

    matched = plan_restarts(
        items, SECRET, NS, secret_annotations={"reloader.stakater.com/match": "true"}
    )
    assert [w.name for w in matched.skipped_reloader] == ["auto", "named", "search"]


def test_restart_patch_is_kubectls_rfc3339_annotation() -> None:
    moment = datetime(2026, 11, 28, 6, 7, 8, 123456, tzinfo=timezone(timedelta(hours=2)))
    patch = restart_patch(moment)
    assert patch == {
        "spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: "2026-11-28T04:07:08Z"}}}}
    }
    stamp = restart_patch()["spec"]["template"]["metadata"]["annotations"][RESTARTED_AT]
    assert abs(datetime.fromisoformat(stamp) - datetime.now(UTC)) < timedelta(minutes=1)


def test_restart_command_names_kind_and_namespace() -> None:
    assert (
        Workload("StatefulSet", "db", NS).restart_command
        == "kubectl rollout restart statefulset/db -n floe-jobs"
    )
