"""VaultSecretsPlugin's KV v2 side against a real OpenBao: versions, pinned reads, CAS, metadata."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from floe_dagster_secrets.errors import (
    InvalidSecretReferenceError,
    SecretAlreadyExistsError,
    SecretConflictError,
    SecretNotFoundError,
)
from floe_dagster_secrets.types import reveal_all
from tests.integration.vault_helpers import audit_mark, audit_requests, token_plugin
from tests.servers import OpenBaoServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

NS = "floe-jobs"
NAME = "warehouse-dev-credentials"


def test_create_read_versions_and_pinned_reads(
    openbao_server: OpenBaoServer, tmp_path: Path
) -> None:
    plugin = token_plugin(openbao_server, tmp_path)
    try:
        created = plugin.create_secret(NAME, NS, {"USER": "dbt", "PASSWORD": "first-password"})
        assert created.version == "1"
        assert created.keys == ("PASSWORD", "USER")
        rotated = plugin.update_secret(NAME, NS, {"PASSWORD": "second-password"}, merge=True)
        assert rotated.version == "2"

        assert reveal_all(plugin.get_secret(NAME, NS)) == {
            "USER": "dbt",
            "PASSWORD": "second-password",
        }
        assert reveal_all(plugin.get_secret_version(NAME, NS, 1)) == {
            "USER": "dbt",
            "PASSWORD": "first-password",
        }
        replaced = plugin.update_secret(NAME, NS, {"TOKEN": "only-key-now"})
        assert replaced.version == "3"
        assert set(plugin.get_secret(NAME, NS)) == {"TOKEN"}

        meta = plugin.describe_secret(NAME, NS)
        assert meta.version == "3"
        assert meta.keys == ("TOKEN",)
        assert meta.managed_by_floe
        assert meta.created is not None
        assert meta.updated is not None
        assert meta.updated >= meta.created
        assert plugin.secret_versions(NS) == {NAME: "3"}
        assert [m.name for m in plugin.list_secrets(NS)] == [NAME]
    finally:
        plugin.close()


def test_check_and_set_conflict_and_existing_create(
    openbao_server: OpenBaoServer, tmp_path: Path
) -> None:
    plugin = token_plugin(openbao_server, tmp_path)
    try:
        plugin.create_secret(NAME, NS, {"PASSWORD": "v1-password"})
        with pytest.raises(SecretAlreadyExistsError, match="floe secrets rotate") as exists:
            plugin.create_secret(NAME, NS, {"PASSWORD": "other-password"})
        assert exists.value.secret == NAME
        plugin.write_secret(NAME, NS, {"PASSWORD": "v2-password"}, cas=1)
        with pytest.raises(SecretConflictError, match="check-and-set") as conflict:
            plugin.write_secret(NAME, NS, {"PASSWORD": "lost-update"}, cas=1)
        assert conflict.value.backend == "vault"
        assert "lost-update" not in str(conflict.value)
        assert reveal_all(plugin.get_secret(NAME, NS)) == {"PASSWORD": "v2-password"}
    finally:
        plugin.close()


def test_missing_secret_delete_and_bad_names(openbao_server: OpenBaoServer, tmp_path: Path) -> None:
    plugin = token_plugin(openbao_server, tmp_path)
    try:
        with pytest.raises(SecretNotFoundError, match="floe secrets create") as missing:
            plugin.get_secret("absent-dev-credentials", NS)
        assert missing.value.path is not None
        assert "absent-dev-credentials" in missing.value.path
        with pytest.raises(SecretNotFoundError):
            plugin.delete_secret("absent-dev-credentials", NS)
        with pytest.raises(InvalidSecretReferenceError):
            plugin.get_secret("../escape", NS)
        assert plugin.list_secrets(NS) == []
        plugin.create_secret(NAME, NS, {"PASSWORD": "to-be-deleted"})
        plugin.delete_secret(NAME, NS)
        with pytest.raises(SecretNotFoundError):
            plugin.describe_secret(NAME, NS)
        assert plugin.secret_versions(NS) == {}
    finally:
        plugin.close()


def test_foreign_secret_keys_come_from_one_data_read(
    openbao_server: OpenBaoServer, tmp_path: Path
) -> None:
    plugin = token_plugin(openbao_server, tmp_path)
    try:
        value = f"canary{secrets.token_hex(8)}"
        openbao_server.request(
            "POST", f"secret/data/{plugin.secret_path(NAME, NS)}", {"data": {"B": value, "A": "x"}}
        )
        listed = plugin.list_secrets(NS)
        assert listed[0].keys_known is False
        assert listed[0].managed_by_floe is False
        described = plugin.describe_secret(NAME, NS)
        assert described.keys == ("A", "B")
        assert value not in repr(described)
        assert value not in str(described.to_json())
    finally:
        plugin.close()


def test_reads_are_one_request_each_and_one_lookup_per_token(
    openbao_server: OpenBaoServer, tmp_path: Path
) -> None:
    plugin = token_plugin(openbao_server, tmp_path)
    try:
        plugin.create_secret(NAME, NS, {"PASSWORD": "counted-password"})
        mark = audit_mark(openbao_server)
        for _ in range(5):
            plugin.get_secret(NAME, NS)
        paths = [r["path"] for r in audit_requests(openbao_server, after=mark)]
        assert paths == [f"secret/data/{plugin.secret_path(NAME, NS)}"] * 5
    finally:
        plugin.close()


def test_merge_update_never_reads_the_values(openbao_server: OpenBaoServer, tmp_path: Path) -> None:
    plugin = token_plugin(openbao_server, tmp_path)
    try:
        plugin.create_secret(NAME, NS, {"USER": "dbt", "PASSWORD": "old-password"})
        mark = audit_mark(openbao_server)
        meta = plugin.update_secret(NAME, NS, {"PASSWORD": "new-password"}, merge=True)
        requests = [(r["operation"], r["path"]) for r in audit_requests(openbao_server, after=mark)]
        assert meta.version == "2"
        assert meta.keys == ("PASSWORD", "USER")
        data_path = plugin.data_path(NAME, NS)
        assert ("read", data_path) not in requests
        assert ("patch", data_path) in requests
        assert reveal_all(plugin.get_secret(NAME, NS)) == {
            "USER": "dbt",
            "PASSWORD": "new-password",
        }
        assert plugin.describe_secret(NAME, NS).keys == ("PASSWORD", "USER")
    finally:
        plugin.close()


def test_pinned_reads_keep_the_first_version_through_a_rotation(
    openbao_server: OpenBaoServer, tmp_path: Path
) -> None:
    """A run's plugin (``pin_reads``) keeps its value when the secret is rotated mid-run."""
    writer = token_plugin(openbao_server, tmp_path)
    run = token_plugin(
        openbao_server, tmp_path, secret_path_prefix=writer.secret_path_prefix, pin_reads=True
    )
    try:
        writer.create_secret(NAME, NS, {"PASSWORD": "before-rotation"})
        assert reveal_all(run.get_secret(NAME, NS)) == {"PASSWORD": "before-rotation"}
        writer.update_secret(NAME, NS, {"PASSWORD": "after-rotation"})

        assert reveal_all(run.get_secret(NAME, NS)) == {"PASSWORD": "before-rotation"}
        assert run.pinned_versions(NS) == {NAME: 1}
        assert reveal_all(writer.get_secret(NAME, NS)) == {"PASSWORD": "after-rotation"}
    finally:
        writer.close()
        run.close()
