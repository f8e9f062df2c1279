"""A backend from another distribution works through its ``floe.secrets`` entry point alone.

A throw-away package (``floe_memory_backend``) and its ``.dist-info`` (METADATA and
``entry_points.txt``) are written to a temporary directory and put on ``PYTHONPATH`` of a fresh
interpreter, as ``pip install`` would leave them. Nothing in ``floe_dagster_secrets`` names it,
yet the manifest validates its ``type:`` and its config against the model it declares, the JSON
Schema includes it, the CLI lists and creates its secrets under its own label, and
``secrets_resource_from_manifest`` builds the resource it declares.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

PLUGIN = '''
"""An in-memory secrets backend, seeded from a JSON file: a third party's package."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import Field

from floe_dagster_secrets.backends.base import SecretsPlugin
from floe_dagster_secrets.errors import SecretAlreadyExistsError, SecretNotFoundError
from floe_dagster_secrets.manifest import BackendConfig
from floe_dagster_secrets.types import SecretData, SecretMetadata, SecretValue


class MemoryConfig(BackendConfig):
    """plugins.secrets.config of type memory."""

    seed_file: str = Field(min_length=1, description="JSON file: namespace -> name -> keys.")


class MemorySecretsPlugin(SecretsPlugin):
    name: ClassVar[str] = "memory"
    version: ClassVar[str] = "0.1"
    label: ClassVar[str] = "memory store"
    config_model: ClassVar[Any] = MemoryConfig
    config_required: ClassVar[bool] = True
    resource: ClassVar[str | None] = "floe_memory_backend.resource:MemorySecretsResource"

    def __init__(self, seed_file: str) -> None:
        with open(seed_file) as f:
            self.store: dict[str, dict[str, dict[str, str]]] = json.load(f)

    def _meta(self, name: str, namespace: str) -> SecretMetadata:
        keys = tuple(sorted(self.store[namespace][name]))
        return SecretMetadata(name=name, namespace=namespace, backend=self.name, keys=keys,
                              version="1")

    def get_secret(self, name: str, namespace: str) -> SecretData:
        try:
            data = self.store[namespace][name]
        except KeyError:
            raise SecretNotFoundError(f"no {name}", fix="create it", backend=self.name) from None
        return {key: SecretValue(value) for key, value in data.items()}

    def create_secret(self, name: str, namespace: str, data: Mapping[str, str]) -> SecretMetadata:
        if name in self.store.setdefault(namespace, {}):
            raise SecretAlreadyExistsError(f"{name} exists", fix="rotate it", backend=self.name)
        self.store[namespace][name] = dict(data)
        return self._meta(name, namespace)

    def update_secret(
        self, name: str, namespace: str, data: Mapping[str, str], *, merge: bool = False
    ) -> SecretMetadata:
        self.store[namespace][name] = {**(self.store[namespace][name] if merge else {}), **data}
        return self._meta(name, namespace)

    def delete_secret(self, name: str, namespace: str) -> None:
        del self.store[namespace][name]

    def list_secrets(self, namespace: str) -> list[SecretMetadata]:
        return [self._meta(name, namespace) for name in sorted(self.store.get(namespace, {}))]

    def describe_secret(self, name: str, namespace: str) -> SecretMetadata:
        return self._meta(name, namespace)
'''

RESOURCE = '''
from typing import Any, ClassVar

from pydantic import Field

from floe_dagster_secrets.resources.base import FloeSecretsResource


class MemorySecretsResource(FloeSecretsResource):
    """Secrets from the memory backend."""

    backend: ClassVar[str] = "memory"
    seed_file: str = Field(description="JSON seed file.")

    def backend_kwargs(self) -> dict[str, Any]:
        return {"seed_file": self.seed_file}
'''

CHECKS = """
import json, sys
from pathlib import Path

from click.testing import CliRunner

from floe_dagster_secrets.cli.app import cli
from floe_dagster_secrets.errors import InvalidManifestError
from floe_dagster_secrets.manifest import load_manifest, manifest_json_schema, parse_manifest
from floe_dagster_secrets.resources.factory import secrets_resource_from_manifest

path = Path(sys.argv[1])
manifest = load_manifest(path)
config = manifest.plugins.secrets.config
assert type(config).__name__ == "MemoryConfig", type(config)
assert manifest.model_dump(mode="json")["plugins"]["secrets"]["config"]["seed_file"]

try:  # its own model validates it: the required field is named
    parse_manifest({"environment": "dev", "plugins": {"secrets": {"type": "memory",
                    "config": {"seed": "x"}}}})
except InvalidManifestError as e:
    assert "seed_file" in str(e), str(e)
else:
    raise AssertionError("a config the memory model refuses was accepted")

schema = manifest_json_schema()
plugin = schema["$defs"]["SecretsPluginConfig"]
assert "memory" in plugin["properties"]["type"]["enum"]
assert "MemoryConfig" in schema["$defs"]

runner = CliRunner()
listed = runner.invoke(cli, ["secrets", "list", "--manifest", str(path), "-o", "json"])
assert listed.exit_code == 0, listed.output
assert [item["name"] for item in json.loads(listed.output)] == ["warehouse-dev-credentials"]
created = runner.invoke(
    cli, ["secrets", "create", "new-dev-credentials", "--manifest", str(path), "--from-literal",
          "TOKEN=abc-123-value"],
)
assert created.exit_code == 0, created.output
assert "memory store" in created.output, created.output

resource = secrets_resource_from_manifest(manifest)
assert type(resource).__name__ == "MemorySecretsResource"
assert resource.get_secret("warehouse-dev-credentials")["PASSWORD"].reveal() == "seeded-value-1"
print("third-party backend ok")
"""


def _install(site: Path) -> None:
    """Write the package and its dist-info, as ``pip install`` would."""
    package = site / "floe_memory_backend"
    package.mkdir()
    (package / "__init__.py").write_text(PLUGIN)
    (package / "resource.py").write_text(RESOURCE)
    info = site / "floe_memory_backend-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: floe-memory-backend\nVersion: 0.1\n"
    )
    (info / "entry_points.txt").write_text(
        "[floe.secrets]\nmemory = floe_memory_backend:MemorySecretsPlugin\n"
    )


def test_a_third_party_backend_works_from_manifest_cli_and_resource(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    _install(site)
    seed = tmp_path / "seed.json"
    seed.write_text(
        json.dumps({"floe-jobs": {"warehouse-dev-credentials": {"PASSWORD": "seeded-value-1"}}})
    )
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(
        textwrap.dedent(
            f"""\
            environment: dev
            plugins:
              secrets:
                type: memory
                namespace: floe-jobs
                config:
                  seed_file: {seed}
            """
        )
    )
    checks = tmp_path / "checks.py"
    checks.write_text(CHECKS)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
    }
    env.pop("FLOE_ENVIRONMENT", None)
    done = subprocess.run(
        [sys.executable, str(checks), str(manifest)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "third-party backend ok" in done.stdout
