"""The resources' docstrings are what the Dagster UI shows, rendered as Markdown: no RST in them."""

from __future__ import annotations

import inspect
import re

import pytest

from floe_dagster_secrets.resources import (
    ESOSecretsResource,
    K8sSecretsResource,
    LocalSecretsResource,
    VaultSecretsResource,
)

RESOURCES = [LocalSecretsResource, K8sSecretsResource, VaultSecretsResource, ESOSecretsResource]
RST = re.compile(r"^\s*\.\. [\w-]+::|:(class|meth|func|mod|attr):`", re.MULTILINE)


@pytest.mark.parametrize("resource", RESOURCES, ids=lambda r: r.__name__)
def test_docstring_is_markdown_with_a_fenced_example(resource: type) -> None:
    text = inspect.cleandoc(resource.__doc__ or "")
    assert not RST.search(text), RST.search(text)
    fences = [line for line in text.splitlines() if line.startswith("```")]
    assert fences[0] == "```python"
    assert len(fences) % 2 == 0  # every fence is closed, at column 0 (else Markdown shows it raw)
