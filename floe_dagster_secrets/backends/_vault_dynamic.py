"""Dynamic database credentials: read, renew and revoke leases through the plugin's session.

A mixin of :class:`~floe_dagster_secrets.backends.vault.VaultSecretsPlugin`, kept apart so the
KV side and the lease side each stay one screenful. Revocation and renewal use the URL forms
``sys/leases/revoke/<lease_id>`` and ``sys/leases/renew/<lease_id>``, so a policy can grant them
for one role's leases only (``sys/leases/revoke/database/creds/<role>/*``).
"""

from __future__ import annotations

from urllib.parse import quote

from floe_dagster_secrets.backends._vault_auth import VaultSession
from floe_dagster_secrets.backends._vault_errors import RequestContext
from floe_dagster_secrets.backends._vault_leases import DatabaseCredentials, RunScopedLease
from floe_dagster_secrets.types import SecretValue


class DynamicCredentials:
    """Database secrets engine access for a class that has a :class:`VaultSession`."""

    session: VaultSession

    def database_credentials(self, role: str, *, mount: str = "database") -> DatabaseCredentials:
        """New database credentials from ``<mount>/creds/<role>``; the caller owns the lease.

        Prefer :meth:`run_lease`, which renews and revokes the lease with the run.
        """
        path = f"{mount.strip('/')}/creds/{quote(role, safe='')}"
        answer = self.session.request("GET", path, RequestContext("read credentials from", path))
        data = answer.get("data") or {}
        return DatabaseCredentials(
            username=str(data.get("username", "")),
            password=SecretValue(str(data.get("password", ""))),
            lease_id=str(answer.get("lease_id", "")),
            lease_duration=int(answer.get("lease_duration") or 0),
            renewable=bool(answer.get("renewable")),
        )

    def renew_lease(self, lease_id: str, increment: int) -> int:
        """Renew a lease by ``increment`` seconds; returns the TTL Vault granted."""
        path = f"sys/leases/renew/{lease_id}"
        ctx = RequestContext("renew lease", path, capability="update")
        answer = self.session.request("PUT", path, ctx, body={"increment": int(increment)})
        return int(answer.get("lease_duration") or 0)

    def revoke_lease(self, lease_id: str) -> None:
        """Revoke a lease and wait for it (the database user is dropped when this returns)."""
        path = f"sys/leases/revoke/{lease_id}"
        ctx = RequestContext("revoke lease", path, capability="update")
        self.session.request("PUT", path, ctx, body={"sync": True})

    def token_refresh_in(self) -> float | None:
        """Seconds until the session's token is due for renewal (None: it never expires)."""
        return self.session.refresh_due_in()

    def keep_token_alive(self) -> None:
        """Renew the session's token if it is due (a lease dies with the token that made it)."""
        self.session.token()

    def run_lease(
        self, role: str, *, mount: str = "database", handle_sigterm: bool = True
    ) -> RunScopedLease:
        """A :class:`RunScopedLease` for ``role``: enter it when the run starts."""
        return RunScopedLease(self, role, mount=mount, handle_sigterm=handle_sigterm)
