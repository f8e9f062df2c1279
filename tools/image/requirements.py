"""Print the third-party requirements of floe-dagster-secrets with some of its extras, one a line.

The Dockerfile's dependency layer installs these before the package's own code, so editing the
code does not reinstall them; reading them from ``pyproject.toml`` keeps one list. Extras that
name the package itself (``floe-dagster-secrets[dbt]``) are expanded here, since pip cannot
install them before the package exists.

    python3 tools/image/requirements.py pyproject.toml vault,postgres,demo,dbt-postgres

Standard library only: it runs on the bare base image.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

_SELF = re.compile(r"^(?P<name>[A-Za-z0-9._-]+)\[(?P<extras>[^\]]+)\]\s*$")


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements(pyproject: Path, extras: list[str]) -> list[str]:
    """The core dependencies plus those of ``extras`` (self-references expanded), de-duplicated."""
    project = tomllib.loads(pyproject.read_text())["project"]
    own = _normalize(project["name"])
    optional: dict[str, list[str]] = project.get("optional-dependencies", {})
    found: list[str] = []
    seen: set[str] = set()

    def add(requirement: str) -> None:
        match = _SELF.match(requirement)
        if match and _normalize(match["name"]) == own:
            for extra in match["extras"].split(","):
                expand(extra.strip())
        elif requirement not in found:
            found.append(requirement)

    def expand(extra: str) -> None:
        if extra in seen:
            return
        if extra not in optional:
            raise SystemExit(f"no extra {extra!r} in {pyproject} (known: {', '.join(optional)})")
        seen.add(extra)
        for requirement in optional[extra]:
            add(requirement)

    for requirement in project["dependencies"]:
        add(requirement)
    for extra in extras:
        expand(extra)
    return found


def main() -> None:
    """``requirements.py PYPROJECT [EXTRA,EXTRA…]``: print the list."""
    pyproject = Path(sys.argv[1])
    extras = [e.strip() for e in (sys.argv[2] if len(sys.argv) > 2 else "").split(",") if e]
    sys.stdout.write("".join(f"{r}\n" for r in requirements(pyproject, extras)))


if __name__ == "__main__":
    main()
