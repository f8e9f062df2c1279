"""The demo in a real browser: headless Chromium (Debian's) driven by Playwright after a real run.

A private copy of the demo location gets a canary DuckDB key, its run is launched through the
``floe_demo`` code location of ``workspace.yaml`` (as ``tools/demo.py`` does), and a real
``dagster-webserver`` serves it. Chromium then opens, as a data engineer would:

- the lineage of ``secrets/duckdb-dev-credentials``: the secret upstream of the six dbt assets
  (GraphQL says exactly which), with the ``floe_secrets`` group and its backend;
- the ``floe_secrets`` check of ``customer_lifetime_value``: its Plots panel draws ``age_days``
  and ``max_age_days``;
- the run's log filtered to observations: the access event names the secret, the backend, the
  key and the step (the step took the key from its environment, where the demo instance's
  secrets loader put it when the location's process started).

Dagster's first-visit community pop-up is dismissed ("Skip"). Screenshots are saved under the
test's output folder, ``build/test-output/test_ui_browser/`` (git-ignored; pytest's ``tmp_path``
is rotated away by later runs), their paths printed. Every GraphQL answer the pages
received, every page's text and the run's events are searched for the key in all its encodings.

Playwright never downloads a browser here: it launches ``chromium`` from ``PATH`` through
``executable_path`` (``.ci/setup-test-servers.sh`` installs Debian's). Without it the test fails.
"""

import contextlib
import json
import secrets
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dagster import DagsterInstance, DagsterRunStatus
from dagster_shared.serdes import serialize_value
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, Response, sync_playwright

from floe_dagster_secrets.backends.local import LocalSecretsPlugin
from tests.e2e.demo_location import (
    ASSETS,
    JOB,
    KEY,
    LOCATION,
    NAMESPACE,
    REPO,
    SECRET,
    VENV_BIN,
    DemoLocation,
    copy_location,
    text_hits,
)
from tests.integration.test_webserver import REPOSITORY, Webserver
from tests.servers._process import http_call

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

SECRET_KEY_PATH = ["secrets", SECRET]
# Kept after the run (pytest's tmp_path is rotated away by later runs); build/ is git-ignored.
SCREENSHOTS = REPO / "build" / "test-output" / "test_ui_browser"
LINEAGE = """
query ($repo: RepositorySelector!) {
  repositoryOrError(repositorySelector: $repo) {
    ... on Repository { assetNodes {
      assetKey { path } groupName isObservable isMaterializable
      dependedByKeys { path } dependencyKeys { path } tags { key value }
    } }
  }
}
"""


def _chromium() -> str:
    found = shutil.which("chromium")
    assert found, "Debian's chromium is not installed: run .ci/setup-test-servers.sh"
    return found


def _instance_config(location: DemoLocation) -> None:
    """The demo instance as tools/demo.py writes it (less the redacting storage): its secrets
    loader gives the key to the location's processes."""
    location.write_demo_instance()


def _launch_run(location: DemoLocation, log: Path, timeout: float = 600) -> str:
    """``dagster job launch -w workspace.yaml`` (the demo's way), then wait for the run."""
    run_id = str(uuid.uuid4())
    with log.open("w") as handle:
        launched = subprocess.run(
            [
                str(VENV_BIN / "dagster"),
                "job",
                "launch",
                "-w",
                str(location.root / "workspace.yaml"),
                "--location",
                LOCATION,
                "--job",
                JOB,
                "--run-id",
                run_id,
            ],
            cwd=location.root,
            env=location.env(),
            stdout=handle,
            stderr=subprocess.STDOUT,
            timeout=300,
            check=False,
        )
    assert launched.returncode == 0, log.read_text()[-3000:]
    deadline = time.monotonic() + timeout
    with DagsterInstance.from_config(str(location.home)) as instance:
        while time.monotonic() < deadline:
            run = instance.get_run_by_id(run_id)
            if run is not None and run.is_finished:
                assert run.status == DagsterRunStatus.SUCCESS, log.read_text()[-3000:]
                # launched from the location the UI serves: re-execution needs no warning
                assert run.remote_job_origin is not None
                assert run.remote_job_origin.location_name == LOCATION
                return run_id
            time.sleep(2)
    raise AssertionError(f"run {run_id} did not finish in {timeout:.0f} s")


class Browser:
    """One Chromium page that keeps every GraphQL answer and every page's text."""

    def __init__(self, page: Page, server: Webserver, shots: Path) -> None:
        self.page = page
        self.server = server
        self.shots = shots
        self.texts: list[str] = []
        self.graphql: list[Response] = []
        self.graphql_bodies: list[str] = []
        self.console_errors: list[str] = []
        page.on("response", self._on_response)
        page.on("console", lambda m: m.type == "error" and self.console_errors.append(m.text))

    def _on_response(self, response: Response) -> None:
        if "/graphql" in response.url:
            self.graphql.append(response)

    def _drain(self) -> None:
        """Read the bodies of the answers received so far (before the next navigation)."""
        for response in self.graphql:
            # a body the browser dropped on navigation never reached the page
            with contextlib.suppress(PlaywrightError):
                self.graphql_bodies.append(response.text())
        self.graphql.clear()

    def open(self, path: str, *, ready: str, name: str) -> str:
        """Go to ``path``, wait for the text ``ready``, screenshot it, return the page text."""
        self.page.goto(self.server.url(path), timeout=120_000)
        self.page.get_by_text(ready, exact=True).first.wait_for(timeout=120_000)
        self.page.wait_for_load_state("networkidle", timeout=120_000)
        return self.capture(name)

    def capture(self, name: str) -> str:
        shot = self.shots / f"{name}.png"
        self.page.screenshot(path=str(shot), full_page=True)
        print(f"screenshot: {shot}")
        text = self.page.inner_text("body")
        self.texts.append(text)
        self._drain()
        return text

    def dismiss_community_popup(self) -> None:
        """Dagster's first-visit "Join the Dagster community" dialog covers every page."""
        self.page.goto(self.server.url("/"), timeout=120_000)
        skip = self.page.get_by_role("button", name="Skip")
        skip.wait_for(timeout=120_000)
        self.capture("0-community-popup")
        skip.click()
        skip.wait_for(state="detached", timeout=30_000)


@pytest.fixture
def served_demo(tmp_path: Path) -> Iterator[tuple[Webserver, DemoLocation, str, str]]:
    location = copy_location(tmp_path)
    canary = f"canary{secrets.token_urlsafe(24)}"
    LocalSecretsPlugin(path=location.store).create_secret(SECRET, NAMESPACE, {KEY: canary})
    _instance_config(location)
    run_id = _launch_run(location, tmp_path / "launch.log")
    server = Webserver(location, tmp_path / "webserver.log")
    server.process.start()
    try:
        server.process.wait_ready(
            lambda: http_call(server.url("/server_info"))[0] == 200, timeout=120, interval=0.5
        )
        server.process.wait_ready(server.location_loaded, timeout=180, interval=1)
        yield server, location, run_id, canary
    finally:
        server.process.stop()


def _paths(nodes: list[dict[str, Any]]) -> set[str]:
    return {"/".join(n["path"]) for n in nodes}


def test_lineage_plots_and_access_events_in_a_real_browser(
    served_demo: tuple[Webserver, DemoLocation, str, str], tmp_path: Path
) -> None:
    server, location, run_id, canary = served_demo

    # GraphQL: the secret is upstream of exactly the six dbt assets, each tagged with it.
    nodes = server.graphql(LINEAGE, repo=REPOSITORY)["repositoryOrError"]["assetNodes"]
    by_key = {"/".join(n["assetKey"]["path"]): n for n in nodes}
    secret_node = by_key["/".join(SECRET_KEY_PATH)]
    assert secret_node["isObservable"]
    assert not secret_node["isMaterializable"]
    assert secret_node["groupName"] == "floe_secrets"
    assert _paths(secret_node["dependedByKeys"]) == ASSETS
    for asset in ASSETS:
        assert "/".join(SECRET_KEY_PATH) in _paths(by_key[asset]["dependencyKeys"])
        assert {"key": f"floe/secret.{SECRET}", "value": ""} in by_key[asset]["tags"]

    shots = SCREENSHOTS
    shutil.rmtree(shots, ignore_errors=True)
    shots.mkdir(parents=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=_chromium(), headless=True, args=["--no-sandbox"]
        )
        try:
            page = chromium.new_page(viewport={"width": 1600, "height": 1100})
            browser = Browser(page, server, shots)
            browser.dismiss_community_popup()

            lineage = browser.open(
                f"/assets/{'/'.join(SECRET_KEY_PATH)}"
                "?view=lineage&lineageScope=downstream&lineageDepth=1",
                ready="floe_secrets",
                name="1-secret-lineage",
            )
            for asset in ASSETS:
                assert asset.split("/")[-1] in lineage, f"{asset} missing from the lineage graph"
            assert "External Asset" in lineage

            check = browser.open(
                "/assets/customer_lifetime_value?view=checks&checkDetail=floe_secrets",
                ready="Plots",
                name="2-check-plots",
            )
            plots = check.split("Plots", 1)[1]
            assert "age_days" in plots
            assert "max_age_days" in plots
            # each numeric metadata key is drawn as a chart with the run's evaluation
            assert page.locator("canvas").count() >= 2

            log = browser.open(
                f"/runs/{run_id}?logs=type%3AASSET_OBSERVATION",
                ready="ASSET_OBSERVATION",
                name="3-run-log-access-events",
            )
            event = log.split("ASSET_OBSERVATION", 1)[1]
            for shown in (SECRET, "local", "floe_demo_dbt", KEY, "outcome"):
                assert shown in event, f"{shown!r} not in the access event"
        finally:
            chromium.close()

    assert browser.graphql_bodies, "no GraphQL answer was captured: the scan would prove nothing"
    with DagsterInstance.from_config(str(location.home)) as instance:
        events = [serialize_value(e) for e in instance.all_logs(run_id)]
    scanned = {
        "graphql": browser.graphql_bodies,
        "page text": browser.texts,
        "run events": events,
        "test graphql": server.answers,
    }
    leaks = {
        f"{what} #{i}": hits
        for what, texts in scanned.items()
        for i, text in enumerate(texts)
        if (hits := text_hits(canary, text))
    }
    assert leaks == {}
    print(json.dumps({"console errors": browser.console_errors[:5]}))
