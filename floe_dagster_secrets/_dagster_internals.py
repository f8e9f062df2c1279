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
