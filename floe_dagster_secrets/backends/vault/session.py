"""One Vault session: log in once per token lifetime, renew before expiry, re-auth if revoked.

Token lifecycle (the same for every auth method):

- The first request logs in (``kubernetes``: the service-account JWT; ``approle``: role_id and
  secret_id from the env vars the manifest names; ``token``: the token from an env var or file,
  looked up once with ``lookup-self`` to learn its TTL). The token is cached with its TTL.
- At two thirds of the TTL, the next request first renews it (``auth/token/renew-self``). When
  Vault caps the renewal (the role's max TTL is near) or the token is not renewable, the next
  refresh point logs in again instead. So there is exactly one login per token lifetime, never
  one per read.
- A 403 may mean the token was revoked or expired under us, or that its policies do not grant
  the path. The session asks Vault which (``auth/token/lookup-self`` with the same token, which
  the ``default`` policy grants): a token Vault still knows keeps being used and the 403 becomes
  ``SecretAccessDeniedError`` naming the path and the policy stanza to grant; only a token Vault
  no longer knows is dropped for a fresh login, and the request is repeated once. Dropping a
  valid token would orphan the run's database lease: a lease belongs to the token that created
  it, the lease thread renews only the token the session holds, and Vault revokes a token's
  leases when it expires. (A token without the ``default`` policy cannot look itself up, so its
  403s are taken as the token being gone, as before.)

Login credentials are read from their files and env vars at each login (Kubernetes rotates
projected service-account tokens) and never kept; the Vault token is held in a ``SecretValue``
so no ``repr`` shows it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from floe_dagster_secrets.backends._retry import DEFAULT_POLICY, RetryPolicy, RetryStats
from floe_dagster_secrets.backends._retry import call_with_retry as _call_with_retry
from floe_dagster_secrets.backends.vault.credentials import (
    AuthSettings,
    login_body,
    login_refused,
    read_token,
)
from floe_dagster_secrets.backends.vault.errors import (
    BACKEND,
    RequestContext,
    is_client_error,
    is_transient,
    translate,
    vault_error,
    vault_messages,
    vault_status,
)
from floe_dagster_secrets.errors import SecretAccessDeniedError
from floe_dagster_secrets.types import SecretValue

if TYPE_CHECKING:
    import hvac


log = logging.getLogger(__name__)

RENEW_AT = 2 / 3
"""Fraction of a TTL after which a token or lease is renewed."""

INSTALL_HINT = "pip install 'floe-dagster-secrets[vault]'"


def import_hvac() -> Any:
    """hvac, imported on first use; if missing, our error with the pip command to run.

    Raises:
        BackendNotInstalledError: hvac is not installed (the ``vault`` extra).
    """
    try:
        import hvac
    except ImportError as e:
        from floe_dagster_secrets.errors import BackendNotInstalledError

        raise BackendNotInstalledError(
            "The 'vault' secrets backend needs the hvac library, which is not installed",
            fix=INSTALL_HINT,
            backend="vault",
        ) from e
    return hvac


def _attempts(error: BaseException) -> int:
    """How many attempts the retry loop made before ``error`` escaped it."""
    return int(error.__dict__.get("floe_attempts", 1))


@dataclass
class TokenState:
    """A cached Vault token and what is known about its lifetime."""

    value: SecretValue
    ttl: float  # seconds; 0 = never expires
    renewable: bool
    obtained: float  # clock() at login or last renewal
    login_ttl: float  # TTL granted at login: what a renewal asks for
    capped: bool = False  # Vault shortened the last renewal: max TTL is near


def refresh_action(token: TokenState | None, now: float) -> Literal["keep", "renew", "login"]:
    """What to do before the next request, given the cached token and the time.

    Keep it until two thirds of its TTL have passed; then renew it if Vault allows that and
    did not cap the last renewal (the max TTL is near) and it has not expired; else log in again.
    A TTL of 0 (a root or periodic-less token without expiry) is kept for good.
    """
    if token is None:
        return "login"
    if token.ttl <= 0 or now < token.obtained + token.ttl * RENEW_AT:
        return "keep"
    expired = now >= token.obtained + token.ttl
    if token.renewable and not token.capped and not expired:
        return "renew"
    return "login"


@dataclass
class SessionStats:
    """What the session did: tests and the benchmark compare these with Vault's audit log."""

    logins: int = 0
    renewals: int = 0
    reauths: int = 0  # fresh logins after a 403 because Vault no longer knew the token
    token_checks: int = 0  # lookup-self after a 403: is the token still valid?


class VaultSession:
    """An hvac client plus the token lifecycle; thread-safe (lease renewal runs in a thread).

    Args:
        address: Vault address.
        auth: How to log in.
        ca_cert: CA bundle path for TLS (None: the system store).
        timeout: Seconds per request.
        clock: Monotonic clock (injectable for unit tests).
        retry_policy: Bounded retries for transient failures.
        sleep: Sleeper for retries (injectable for unit tests).
        client: A ready hvac client (unit tests); normally built on first use.
    """

    def __init__(
        self,
        address: str,
        auth: AuthSettings,
        *,
        ca_cert: str | None = None,
        timeout: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        retry_policy: RetryPolicy = DEFAULT_POLICY,
        sleep: Callable[[float], None] = time.sleep,
        client: hvac.Client | None = None,
    ) -> None:
        self.address = address.rstrip("/")
        self.auth = auth
        self.ca_cert = ca_cert
        self.timeout = timeout
        self.stats = SessionStats()
        self._clock = clock
        self._retry_policy = retry_policy
        self._sleep = sleep
        self._client = client
        self._token: TokenState | None = None
        self._lock = threading.RLock()

    # --- transport ----------------------------------------------------------------------------

    def client(self) -> hvac.Client:
        """The hvac client, built on first use. It carries no token: each request sends one."""
        with self._lock:
            if self._client is None:
                hvac_module = import_hvac()
                # token="" stops hvac from picking up VAULT_TOKEN or ~/.vault-token on its own.
                self._client = hvac_module.Client(
                    url=self.address, token="", verify=self.ca_cert or True, timeout=self.timeout
                )
            return self._client

    def close(self) -> None:
        """Close the HTTP session and forget the token (it expires at its TTL)."""
        with self._lock:
            if self._client is not None:
                self._client.adapter.close()
                self._client = None
            self._token = None

    def _send(
        self,
        method: str,
        path: str,
        ctx: RequestContext,
        *,
        token: str | None,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        content_type: str | None = None,
        retryable: Callable[[BaseException], bool] = is_transient,
    ) -> dict[str, Any]:
        """One HTTP request with bounded retries; hvac's exception escapes untranslated."""
        adapter = self.client().adapter
        headers = {"X-Vault-Token": token} if token else {}
        if content_type:
            headers["Content-Type"] = content_type
        kwargs: dict[str, Any] = {"headers": headers}
        if body is not None:
            kwargs["json"] = dict(body)
        if params:
            kwargs["params"] = dict(params)

        def attempt() -> dict[str, Any]:
            result = adapter.request(method, f"/v1/{path}", raise_exception=False, **kwargs)
            if isinstance(result, dict):
                return result
            if not result.ok:
                raise vault_error(method, path, result)
            return {}  # 204 No Content, or a 200 without a JSON body

        stats = RetryStats()
        try:
            return _call_with_retry(
                attempt,
                policy=self._retry_policy,
                retryable=retryable,
                sleep=self._sleep,
                stats=stats,
            )
        except Exception as e:
            e.__dict__.setdefault("floe_attempts", stats.attempts)
            raise

    def request(
        self,
        method: str,
        path: str,
        ctx: RequestContext,
        *,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        content_type: str | None = None,
        retryable: Callable[[BaseException], bool] = is_transient,
    ) -> dict[str, Any]:
        """An authenticated request; the JSON answer, ``{}`` for an empty one.

        ``retryable`` says which failures are tried again (default: the transient allow-list);
        a request that must not run twice narrows it (see ``dynamic.creds_retryable``).

        Raises:
            FloeSecretsError: translated. A 403 to a token Vault still knows is
                ``SecretAccessDeniedError`` at once (the token is kept); to a token Vault no
                longer knows, the request is repeated once after a fresh login.
        """
        reauthenticated = False
        while True:
            token = self.token()
            try:
                return self._send(
                    method,
                    path,
                    ctx,
                    token=token.reveal(),
                    body=body,
                    params=params,
                    content_type=content_type,
                    retryable=retryable,
                )
            except Exception as e:
                if not is_client_error(e):
                    raise
                if (
                    vault_status(e) == 403
                    and not reauthenticated
                    and self._token_state(token) == "gone"
                ):
                    reauthenticated = True
                    self.stats.reauths += 1
                    log.info(
                        "Vault no longer knows the session's token (revoked or expired); "
                        "logging in again. Leases it created end with it."
                    )
                    self._forget(token)
                    continue
                raise translate(e, ctx, address=self.address, attempts=_attempts(e)) from e

    def _token_state(self, token: SecretValue) -> Literal["valid", "gone", "unknown"]:
        """After a 403, ask Vault (``auth/token/lookup-self``) whether it still knows ``token``.

        ``valid``: the 403 was the policy's answer, keep the token (a lease it created lives
        only as long as it does). ``gone``: Vault answered 403 to the lookup too, the token was
        revoked or expired. ``unknown``: the lookup itself failed (Vault unreachable, 5xx after
        the retries); the token is kept and the 403 reported, since dropping a valid token would
        cost the run its leases while a later request can still log in again.
        """
        self.stats.token_checks += 1
        check = RequestContext("look up the Vault token", "auth/token/lookup-self")
        try:
            self._send("GET", check.path, check, token=token.reveal())
        except Exception as e:
            if not is_client_error(e):
                raise
            if vault_status(e) in (401, 403):
                return "gone"
            log.warning(
                "After a 403, checking whether the Vault token is still valid failed (%s); "
                "keeping the token",
                type(e).__name__,
            )
            return "unknown"
        return "valid"

    # --- token lifecycle ----------------------------------------------------------------------

    def token(self) -> SecretValue:
        """A token valid for the next request: cached, renewed at 2/3 TTL, or a fresh login."""
        with self._lock:
            action = refresh_action(self._token, self._clock())
            if action == "login" or self._token is None:
                if self._token is not None:
                    log.info(
                        "The Vault token reached the end of its lifetime (max TTL or not "
                        "renewable); logging in again. Leases it created end with it."
                    )
                self._token = self._login()
            elif action == "renew":
                self._token = self._renew(self._token)
            return self._token.value

    def cached_token(self) -> SecretValue | None:
        """The token held now, without taking the session's lock (None before the first login).

        For a request that must not wait behind another thread's login or renewal (which hold
        the lock across their retries): the bounded lease revocation on SIGTERM.
        """
        current = self._token  # one attribute read: atomic under the GIL
        return None if current is None else current.value

    def refresh_due_in(self) -> float | None:
        """Seconds until the cached token should be renewed; None without an expiring token."""
        with self._lock:
            current = self._token
            if current is None or current.ttl <= 0:
                return None
            return max(current.obtained + current.ttl * RENEW_AT - self._clock(), 0.0)

    def _forget(self, token: SecretValue) -> None:
        with self._lock:
            if self._token is not None and self._token.value == token:
                self._token = None

    def _renew(self, current: TokenState) -> TokenState:
        ctx = RequestContext("renew the Vault token", "auth/token/renew-self", capability="update")
        try:
            answer = self._send(
                "POST",
                ctx.path,
                ctx,
                token=current.value.reveal(),
                body={"increment": f"{int(current.login_ttl)}s"},
            )
        except Exception as e:
            if not is_client_error(e):
                raise
            if vault_status(e) in (400, 403):  # expired or revoked meanwhile: log in again
                return self._login()
            raise translate(e, ctx, address=self.address, attempts=_attempts(e)) from e
        self.stats.renewals += 1
        auth = answer.get("auth") or {}
        ttl = float(auth.get("lease_duration") or 0)
        return TokenState(
            value=current.value,
            ttl=ttl,
            renewable=bool(auth.get("renewable", current.renewable)),
            obtained=self._clock(),
            login_ttl=current.login_ttl,
            capped=0 < ttl < current.login_ttl,
        )

    def _login(self) -> TokenState:
        auth = self.auth
        started = self._clock()
        if auth.method == "token":
            value = read_token(auth)
            ctx = RequestContext("look up the Vault token", "auth/token/lookup-self")
            answer = self._login_request("GET", ctx, token=value.reveal())
            data = answer.get("data") or {}
            ttl, renewable = float(data.get("ttl") or 0), bool(data.get("renewable"))
        else:
            ctx = RequestContext(
                f"log in with {auth.method} auth as role '{auth.role}'",
                f"auth/{auth.mount_path}/login",
                capability="update",
            )
            answer = self._login_request("POST", ctx, body=login_body(auth))
            granted = answer.get("auth") or {}
            value = SecretValue(str(granted.get("client_token") or ""))
            ttl = float(granted.get("lease_duration") or 0)
            renewable = bool(granted.get("renewable"))
        self.stats.logins += 1
        return TokenState(value, ttl, renewable, started, login_ttl=ttl)

    def _login_request(
        self,
        method: str,
        ctx: RequestContext,
        *,
        token: str | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        try:
            return self._send(method, ctx.path, ctx, token=token, body=body)
        except Exception as e:
            if not is_client_error(e):
                raise
            status = vault_status(e)
            if status in (400, 401, 403):
                raise login_refused(self.auth, ctx, vault_messages(e)) from e
            if status == 404 or (status == 500 and "no handler" in vault_messages(e)):
                raise SecretAccessDeniedError(
                    f"There is no {self.auth.method} auth method mounted at "
                    f"'auth/{self.auth.mount_path}'",
                    fix="enable it there (bao/vault auth enable -path=... kubernetes|approle) or "
                    "set mount_path in plugins.secrets.config",
                    backend=BACKEND,
                    path=ctx.path,
                ) from e
            raise translate(e, ctx, address=self.address, attempts=_attempts(e)) from e
