"""The local store backend (``type: local``): one file per secret under a private directory.

Public surface: :class:`LocalSecretsPlugin` (the ``floe.secrets`` entry point ``local``), and
``write_atomic`` (the CLI writes project files with the store's crash-safe write).
``plugin.py`` is the backend; ``files.py`` holds the file-system rules it relies on (atomic
writes, the namespace lock, the directory-permission checks). Code outside this folder imports
only what this ``__init__`` exports.
"""

from floe_dagster_secrets.backends.local.files import write_atomic as write_atomic
from floe_dagster_secrets.backends.local.plugin import MAX_NAME_LENGTH as MAX_NAME_LENGTH
from floe_dagster_secrets.backends.local.plugin import LocalSecretsPlugin as LocalSecretsPlugin

__all__ = ["MAX_NAME_LENGTH", "LocalSecretsPlugin", "write_atomic"]
