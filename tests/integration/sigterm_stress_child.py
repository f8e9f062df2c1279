"""The process side of the SIGTERM stress test: a fork server that runs one lease life per child.

Run as ``python -m tests.integration.sigterm_stress_child PLAN RESULTS``. It imports the package
once, then for each delivery in the JSON plan forks a child (cheap, and the child is a real
process that SIGTERM really ends), which lives one lease against real OpenBao (through the test's
fault proxy) and PostgreSQL and writes markers ("acquire-start", "renew-start", "release-start",
…) with ``time.monotonic()`` (one clock for every process on the machine) to a pipe. This server
waits for the delivery's marker, waits its random delay, sends SIGTERM like the kubelet does,
then waits for the child to exit (SIGKILL after ``hang_after`` seconds: that is a failure), checks
``pg_roles`` at once, and appends one JSON line per delivery to RESULTS.

The server itself never starts a thread, so forking it is safe; the child's SIGTERM disposition is
the default one unless the plan asks for Dagster's (``previous: "interrupt"``, SIGTERM mapped to
``KeyboardInterrupt`` as ``dagster api execute_run`` does).
"""

from __future__ import annotations

import json
import logging
import os
import select
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psycopg2

from floe_dagster_secrets.backends.vault import VaultSecretsPlugin
from floe_dagster_secrets.backends.vault.leases import RunScopedLease
from floe_dagster_secrets.errors import FloeSecretsError

INTERRUPTED_EXIT = 130


def _marker(fd: int, name: str, **extra: Any) -> None:
    os.write(fd, (json.dumps({"m": name, "t": time.monotonic(), **extra}) + "\n").encode())


def _child(plan: dict[str, Any], delivery: dict[str, Any], fd: int) -> None:
    """One lease life; ends by the signal (or by ``os._exit`` when it outlives the plan)."""
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s"
    )
    if delivery.get("previous") == "interrupt":
        signal.signal(signal.SIGTERM, signal.default_int_handler)

    class Plugin(VaultSecretsPlugin):
        def renew_lease(self, lease_id: str, increment: int) -> int:
            _marker(fd, "renew-start")
            ttl = super().renew_lease(lease_id, increment)
            _marker(fd, "renew-end")
            return ttl

    class Lease(RunScopedLease):
        def release(self) -> None:
            _marker(fd, "release-start")
            super().release()
            _marker(fd, "released")

    plugin = Plugin(
        address=delivery["address"], auth_method="token", token_file=plan["token_file"], timeout=30
    )
    try:
        _marker(fd, "start")
        plugin.session.token()  # logged in before the lease, as a run worker would be
        lease = Lease(plugin, "dbt", mount=delivery["mount"])
        _marker(fd, "acquire-start")
        try:
            _live(lease, plan, delivery, fd, plugin)
        except FloeSecretsError as e:
            if lease._credentials is not None:
                raise  # a failed revocation: the test must see it
            # Vault failing the acquire under load is not what this test is about
            logging.getLogger("stress").error("acquire failed: %s", e)
            _marker(fd, "acquire-failed")
        time.sleep(60)  # released: the signal comes now, or has come
    except KeyboardInterrupt:
        _marker(fd, "interrupted")
        os._exit(INTERRUPTED_EXIT)
    finally:
        logging.shutdown()
    os._exit(0)


def _live(
    lease: RunScopedLease,
    plan: dict[str, Any],
    delivery: dict[str, Any],
    fd: int,
    plugin: VaultSecretsPlugin,
) -> None:
    """The lease's life between acquire and release, as the delivery's ``hold`` says."""
    hold = str(delivery.get("hold", "sleep"))
    with lease as creds:
        _marker(fd, "acquired", user=creds.username, lease=creds.lease_id)
        if hold == "query":  # the main thread in a long C call that retries EINTR itself
            conn = psycopg2.connect(
                host=plan["pg_host"],
                port=plan["pg_port"],
                dbname=plan["pg_dbname"],
                user=creds.username,
                password=creds.password.reveal(),
            )
            _marker(fd, "in-query")
            with conn.cursor() as cur:
                cur.execute("SELECT pg_sleep(30)")
        elif hold == "lock":  # a login or token renewal stuck in retries holds the lock
            threading.Thread(target=_hold_lock, args=(plugin,), daemon=True).start()
            time.sleep(0.05)
            _marker(fd, "lock-held")
            time.sleep(float(delivery.get("seconds", 30)))
        else:
            time.sleep(float(delivery.get("seconds", 0.2)))


def _hold_lock(plugin: VaultSecretsPlugin) -> None:
    with plugin.session._lock:  # what a login retrying with backoff does for up to 30 s
        time.sleep(60)


def _role_exists(plan: dict[str, Any], user: str) -> bool:
    conn = psycopg2.connect(plan["pg_dsn"])
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (user,))
            return cur.fetchone() is not None
    finally:
        conn.close()


def _deliver(plan: dict[str, Any], delivery: dict[str, Any], log_file: Path) -> dict[str, Any]:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        try:
            os.close(read)
            err = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(err, 2)
            _child(plan, delivery, write)
        finally:
            os._exit(70)
    os.close(write)
    markers: list[dict[str, Any]] = []
    buffer = b""
    target, after = str(delivery["at"]), float(delivery["delay"])
    give_up = time.monotonic() + float(plan.get("marker_timeout", 30))
    sent = None
    status: int | None = None
    exited = None
    while sent is None and time.monotonic() < give_up:
        ready, _, _ = select.select([read], [], [], 0.05)
        if ready:
            chunk = os.read(read, 65536)
            if not chunk:
                break  # the child is gone before the signal: reported below
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            markers.extend(json.loads(line) for line in lines if line)
        seen = next((m for m in markers if m["m"] == target), None)
        if seen is not None and time.monotonic() >= seen["t"] + after:
            sent = time.monotonic()
            os.kill(pid, signal.SIGTERM)
    if sent is None:  # no marker in time: still deliver, and report it
        sent = time.monotonic()
        os.kill(pid, signal.SIGTERM)
    hang_after = sent + float(plan["hang_after"])
    while status is None:
        done, raw = os.waitpid(pid, os.WNOHANG)
        if done:
            exited, status = time.monotonic(), raw
            break
        if time.monotonic() > hang_after:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            status = -1
            break
        time.sleep(0.01)
    while True:  # the markers written before the exit
        chunk = os.read(read, 65536)
        if not chunk:
            break
        buffer += chunk
    os.close(read)
    markers.extend(json.loads(line) for line in buffer.split(b"\n") if line)
    log_text = log_file.read_text(errors="replace")
    ended = status not in (None, -1)
    users = {m["user"] for m in markers if "user" in m}
    users |= {part.split("'")[1] for part in log_text.split("user ")[1:] if part.startswith("'")}
    return {
        "case": delivery["case"],
        "at": target,
        "delay": after,
        "markers": markers,
        "sent": sent,
        "exited": exited,
        "signal": os.WTERMSIG(status) if ended and os.WIFSIGNALED(status) else None,
        "code": os.WEXITSTATUS(status) if ended and os.WIFEXITED(status) else None,
        "hung": not ended,
        "users": sorted(users),
        "left": sorted(u for u in users if _role_exists(plan, u)),
        "log": log_text,
    }


def main() -> None:
    """Run every delivery of the plan, one child each, appending results as they come."""
    plan = json.loads(Path(sys.argv[1]).read_text())
    results = Path(sys.argv[2])
    logs = Path(plan["log_dir"])
    # hvac builds its client's API classes on first use (~0.3 s): once here, not in every child
    VaultSecretsPlugin(
        address="http://127.0.0.1:1", auth_method="token", token_file=plan["token_file"]
    ).session.client()
    for number, delivery in enumerate(plan["deliveries"]):
        result = _deliver(plan, delivery, logs / f"{plan['name']}-{number}.log")
        with results.open("a") as out:
            out.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
