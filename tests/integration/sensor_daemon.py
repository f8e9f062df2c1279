"""The sensor daemon's own iteration, one tick per call, for the rotation-sensor tests.

A test module defines its code location (``Definitions`` at a module attribute); this loads it
in-process in a real ``WorkspaceProcessContext`` with a temporary instance and runs one
``execute_sensor_iteration`` per :meth:`SensorDaemon.tick` on a frozen clock moved past any
sensor interval, so run-key de-duplication, cursor storage and tick failure handling are
Dagster's own. Used by ``test_rotation_sensor.py`` (Kubernetes, Vault), the ESO variant
(``eso/test_eso_rotation_sensor.py``) and ``test_secret_lineage_k8s.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from dagster import AssetKey, DagsterInstance, instance_for_test
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.scheduler.instigation import TickStatus
from dagster._core.test_utils import create_test_daemon_workspace_context, freeze_time
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget
from dagster._daemon.sensor import execute_sensor_iteration
from dagster._time import get_current_datetime

SENSOR = "floe_secret_rotation"
"""The name ``make_secret_rotation_sensor`` gives its sensor by default."""


class SensorDaemon:
    """Ticks the sensor daemon once per call and reads back what it recorded."""

    def __init__(
        self,
        instance: DagsterInstance,
        workspace: WorkspaceProcessContext,
        location: str,
        sensor: str = SENSOR,
    ) -> None:
        self.instance = instance
        self.workspace = workspace
        self.location = location
        self.sensor_name = sensor
        self.now = get_current_datetime()

    @property
    def sensor(self) -> Any:
        """The remote sensor (looked up when first asked: a location may have other sensors)."""
        location = self.workspace.create_request_context().get_code_location(self.location)
        return next(iter(location.get_repositories().values())).get_sensor(self.sensor_name)

    def tick(self) -> None:
        """One iteration of the daemon, five minutes after the previous one."""
        self.now += timedelta(minutes=5)
        with freeze_time(self.now):
            list(execute_sensor_iteration(self.workspace, logging.getLogger("test"), None, None))

    def last_tick(self) -> Any:
        """The sensor's newest tick."""
        sensor = self.sensor
        return self.instance.get_ticks(sensor.get_remote_origin_id(), sensor.selector_id)[0]

    def tick_status(self) -> TickStatus:
        """:meth:`tick`, then the status of that tick."""
        self.tick()
        status: TickStatus = self.last_tick().status
        return status

    def cursor(self) -> str | None:
        """The sensor's stored cursor."""
        sensor = self.sensor
        state = self.instance.get_instigator_state(
            sensor.get_remote_origin_id(), sensor.selector_id
        )
        assert state is not None
        return state.instigator_data.cursor  # type: ignore[union-attr]

    def runs(self) -> list[Any]:
        """Every run requested so far, oldest first."""
        return list(reversed(self.instance.get_runs()))

    def selections(self) -> list[set[AssetKey]]:
        """The asset selection of each run, oldest first."""
        return [set(run.asset_selection or ()) for run in self.runs()]


@contextmanager
def workspace_daemon(
    instance: DagsterInstance,
    python_file: str,
    attribute: str,
    *,
    location: str,
    sensor: str = SENSOR,
) -> Iterator[SensorDaemon]:
    """The code location ``python_file:attribute`` loaded for ``instance``, with its daemon."""
    origin = InProcessCodeLocationOrigin(
        LoadableTargetOrigin(python_file=python_file, attribute=attribute),
        location_name=location,
    )
    with create_test_daemon_workspace_context(
        InProcessWorkspaceLoadTarget(origin), instance
    ) as context:
        yield SensorDaemon(instance, context, location, sensor)


@contextmanager
def sensor_daemon(
    python_file: str, attribute: str, *, location: str, sensor: str = SENSOR
) -> Iterator[SensorDaemon]:
    """:func:`workspace_daemon` on a fresh temporary instance."""
    with (
        instance_for_test() as instance,
        workspace_daemon(instance, python_file, attribute, location=location, sensor=sensor) as d,
    ):
        yield d
