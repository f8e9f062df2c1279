"""Limits on what a manifest may be: bytes, nodes, depth; and the Jinja it must not hold.

A manifest is a few kilobytes of names. The limits here are far above any real one and far below
what hurts: YAML aliases let 600 bytes stand for billions of nodes (an "alias bomb"), and every
walk over the loaded data (pydantic, the credential and Jinja checks, the dbt renderer) pays for
the expanded size. So the loader checks the composed YAML graph before anything is built from it
(:func:`check_yaml_graph`, cost linear in the *text*), and data handed in as Python objects is
walked with a budget (:func:`bounded_walk`), so no walk over manifest data is unbounded.

Settings must not hold Jinja (``{{``, ``{%``, ``{#``): floe writes settings into dbt's
``profiles.yml`` as they are, and dbt evaluates Jinja there, so a setting such as
``schema: "{{ env_var('DBT_ENV_SECRET_…') }}"`` would put a secret into a non-secret field (and
from there into ``target/manifest.json``, compiled SQL and a schema name), and
``"{{ modules.os.system('id') }}"`` would run a command.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import yaml

__all__ = [
    "JINJA_MARKERS",
    "MAX_DEPTH",
    "MAX_MANIFEST_BYTES",
    "MAX_NODES",
    "BoundExceededError",
    "bounded_walk",
    "check_yaml_graph",
    "has_jinja",
    "jinja_locations",
]

MAX_MANIFEST_BYTES = 1024 * 1024
"""Largest manifest file read (1 MiB; real ones are a few KiB)."""
MAX_NODES = 100_000
"""Most values (mappings, lists, scalars, keys) a manifest may expand to, aliases counted out."""
MAX_DEPTH = 64
"""Deepest nesting of mappings and lists."""
JINJA_MARKERS = ("{{", "{%", "{#")

Loc = tuple[int | str, ...]


class BoundExceededError(ValueError):
    """The manifest is larger, deeper or more self-referential than a manifest can be."""


def _too_many() -> BoundExceededError:
    return BoundExceededError(
        f"expands to more than {MAX_NODES} values (YAML aliases count once per use)"
    )


def _too_deep() -> BoundExceededError:
    return BoundExceededError(f"nests mappings and lists more than {MAX_DEPTH} levels deep")


def check_yaml_graph(root: yaml.Node) -> None:
    """Refuse a composed YAML document whose expansion is too big, too deep or cyclic.

    Aliases make the node graph a DAG (or, with a recursive anchor, a cycle). The expanded size
    and height of each node are computed once and memoised, so the cost is linear in the number
    of distinct nodes, i.e. in the text, however large the expansion. Merge keys (``<<``) are
    counted like any other alias, so the mappings they flatten are bounded too.

    Raises:
        BoundExceededError: What is wrong, without quoting the document.
    """
    known: dict[int, tuple[int, int]] = {}  # id(node) -> (expanded size, height)
    open_nodes: set[int] = set()

    def measure(node: yaml.Node, depth: int) -> tuple[int, int]:
        if depth > MAX_DEPTH:
            raise _too_deep()
        ident = id(node)
        if ident in known:
            size, height = known[ident]
            if depth + height > MAX_DEPTH:
                raise _too_deep()
            return size, height
        if ident in open_nodes:
            raise BoundExceededError("has an alias that refers to a node containing it")
        open_nodes.add(ident)
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        size, height = 1, 0
        for child in children:
            child_size, child_height = measure(child, depth + 1)
            size += child_size
            height = max(height, child_height + 1)
            if size > MAX_NODES:
                raise _too_many()
        open_nodes.discard(ident)
        known[ident] = (size, height)
        return size, height

    measure(root, 0)


def bounded_walk(value: Any, loc: Loc = ()) -> Iterator[tuple[Loc, Any, bool]]:
    """Every key and value inside ``value``, as ``(loc, item, is_key)``, depth first.

    ``loc`` of a key is the path of the entry it names. Stops with an error past
    :data:`MAX_NODES` items or :data:`MAX_DEPTH` levels, so shared or cyclic Python data (what
    aliases load to) cannot make it run long.

    Raises:
        BoundExceededError: Too many items or too deep.
    """
    budget = [MAX_NODES]

    def visit(item: Any, here: Loc, depth: int) -> Iterator[tuple[Loc, Any, bool]]:
        budget[0] -= 1
        if budget[0] < 0:
            raise _too_many()
        if depth > MAX_DEPTH:
            raise _too_deep()
        yield here, item, False
        if isinstance(item, Mapping):
            for key, inner in item.items():
                step = (*here, key if isinstance(key, str | int) else str(key))
                yield step, key, True
                yield from visit(inner, step, depth + 1)
        elif isinstance(item, list | tuple):
            for index, inner in enumerate(item):
                yield from visit(inner, (*here, index), depth + 1)

    yield from visit(value, loc, 0)


def has_jinja(text: object) -> bool:
    """Whether ``text`` is a string holding a Jinja marker (``{{``, ``{%`` or ``{#``)."""
    return isinstance(text, str) and any(marker in text for marker in JINJA_MARKERS)


def jinja_locations(value: Any, loc: Loc = ()) -> list[tuple[Loc, bool]]:
    """``(path, is_key)`` of each key and string value inside ``value`` holding a Jinja marker.

    For a key, the path is that of the mapping holding it, so the key's text is never repeated.

    Raises:
        BoundExceededError: ``value`` is too big or too deep to check.
    """
    found: dict[tuple[Loc, bool], None] = {}
    for here, item, is_key in bounded_walk(value, loc):
        if has_jinja(item):
            found[(here[:-1] if is_key else here, is_key)] = None
    return list(found)
