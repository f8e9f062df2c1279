"""The demo's code location: everything under ``defs/``, loaded by Dagster's component loader."""

from pathlib import Path

from dagster.components import load_from_defs_folder

defs = load_from_defs_folder(path_within_project=Path(__file__).parent)

__all__ = ["defs"]
