"""One regular expression for many literal strings, matching the longest one first.

The masker holds every registered value in several encodings, so a process that has resolved a
thousand secrets holds some 5,000 literals. Joined as ``a|b|c``, Python's regex engine tries every
alternative at every position of every log line (about 20 ms for a 1.3 kB line at 5,000
literals). Nested by common prefix, as a trie, it follows one branch per character instead
(about 0.1 ms for the same line); ``benchmarks/README.md`` has the figures.

Both forms match the same text: at each position the longest literal that starts there, as an
alternation sorted longest first does. A trie deeper than the interpreter's recursion allows
(thousands of literals each extending the previous one) falls back to that alternation.
"""

from __future__ import annotations

import re
from collections.abc import Collection

_END = ""
"""Marks a trie node where a literal ends (no literal is empty, so no edge is labelled ``""``)."""

_Trie = dict[str, "_Trie"]


def literal_pattern(literals: Collection[str]) -> re.Pattern[str] | None:
    """A compiled pattern matching any of ``literals``, longest first; ``None`` for none.

    Raises:
        ValueError: One of ``literals`` is empty (it would match everywhere).
    """
    if not literals:
        return None
    if any(not literal for literal in literals):
        raise ValueError("an empty literal would match at every position")
    try:
        return re.compile(_trie_regex(_trie(literals)))
    except RecursionError:
        by_length = sorted(literals, key=len, reverse=True)
        return re.compile("|".join(re.escape(literal) for literal in by_length))


def _trie(literals: Collection[str]) -> _Trie:
    root: _Trie = {}
    for literal in literals:
        node = root
        for char in literal:
            node = node.setdefault(char, {})
        node[_END] = {}
    return root


def _trie_regex(node: _Trie) -> str:
    """The regex below ``node``: one branch per next character, runs without a fork merged."""
    branches = []
    for char in sorted(key for key in node if key != _END):
        run, child = char, node[char]
        while len(child) == 1 and _END not in child:
            ((next_char, child),) = child.items()
            run += next_char
        branches.append(re.escape(run) + _trie_regex(child))
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else f"(?:{'|'.join(branches)})"
    # A literal ends here, and longer ones go on: the greedy '?' tries the longer ones first.
    return f"(?:{body})?" if _END in node else body
