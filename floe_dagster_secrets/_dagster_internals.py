"""Every private ``dagster._*`` import this package makes, in one place.

Dagster exposes no public base class for instance-level secrets loaders: ``dagster.yaml``'s
``secrets: custom: {module, class, config}`` rehydrates a ``SecretsLoader`` that is also a
``ConfigurableClass``, and both live under ``dagster._core`` / ``dagster._serdes``. Keeping the
imports here means a Dagster upgrade that moves them breaks exactly one module, and a reviewer can
see at a glance how far we lean on internals.
"""

from __future__ import annotations

from dagster._core.secrets.loader import SecretsLoader as SecretsLoader
from dagster._serdes.config_class import ConfigurableClass as ConfigurableClass
from dagster._serdes.config_class import ConfigurableClassData as ConfigurableClassData

__all__ = ["ConfigurableClass", "ConfigurableClassData", "SecretsLoader"]

# --- run launcher (floe_dagster_secrets.launcher) -------------------------------------------------
# LaunchRunContext/ResumeRunContext are what RunLauncher.launch_run/resume_run receive;
# EngineEventData carries our pre-flight messages into the run's event log; the workspace context
# type is only used in annotations; StepHandlerContext and StepDelegatingExecutor are what
# dagster_k8s.executor builds step pods with (no public alternative exists).
from dagster._core.events import EngineEventData as EngineEventData
from dagster._core.executor.step_delegating import (
    StepDelegatingExecutor as StepDelegatingExecutor,
)
from dagster._core.executor.step_delegating.step_handler.base import (
    StepHandlerContext as StepHandlerContext,
)
from dagster._core.instance.config import storage_config_schema as storage_config_schema
from dagster._core.instance.ref import configurable_storage_data as configurable_storage_data
from dagster._core.launcher import LaunchRunContext as LaunchRunContext
from dagster._core.launcher import ResumeRunContext as ResumeRunContext
from dagster._core.storage.base_storage import DagsterStorage as DagsterStorage
from dagster._core.storage.event_log.base import EventLogStorage as EventLogStorage
from dagster._core.storage.runs.base import RunStorage as RunStorage
from dagster._core.workspace.context import (
    BaseWorkspaceRequestContext as BaseWorkspaceRequestContext,
)

__all__ += [
    "BaseWorkspaceRequestContext",
    "EngineEventData",
    "LaunchRunContext",
    "ResumeRunContext",
    "StepDelegatingExecutor",
    "StepHandlerContext",
]

# --- redacting storage (floe_dagster_secrets.storage) ---------------------------------------------
# Dagster exports no storage base class: DagsterStorage (the unified `storage:` block),
# EventLogStorage and RunStorage are what the instance type-checks its storages against.
# storage_config_schema/configurable_storage_data are how dagster.yaml's `storage:` selector
# (postgres / mysql / sqlite / custom) is validated and turned into the storage class to load; the
# redacting storage takes exactly that block as its config, so it reuses both rather than copy them.
# (Its imports are sorted into the block above.)
__all__ += [
    "DagsterStorage",
    "EventLogStorage",
    "RunStorage",
    "configurable_storage_data",
    "storage_config_schema",
]
