"""docs/architecture.md is the project's map: every file and folder it names exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "architecture.md"
SECTION = re.compile(r"^### .*\(`(\w+)/`\)", re.M)
NAME = re.compile(r"`([\w./*<>-]+)`")


def _named(text: str) -> list[tuple[str, str]]:
    """(folder of the section, name) for every file or folder named in a section's table."""
    out = []
    heads = list(SECTION.finditer(text))
    for i, head in enumerate(heads):
        body = text[head.end():heads[i + 1].start() if i + 1 < len(heads) else len(text)]
        body = body.split("\n## ")[0]
        for line in body.splitlines():
            if line.startswith("|"):
                out += [(head.group(1), n) for n in NAME.findall(line)
                        if n.endswith((".py", "/")) and "*" not in n]
    return out


def _exists(folder: str, name: str) -> bool:
    base = ROOT / folder
    if name.endswith("/"):
        return any(p.is_dir() and p.name == name.rstrip("/").split("/")[-1]
                   for p in base.rglob("*")) or (base / name).is_dir()
    return any(base.rglob(Path(name).name)) if "/" not in name else (base / name).exists()


def test_every_module_the_map_names_exists():
    named = _named(DOC.read_text())
    assert len(named) > 80  # the three layers' tables were read
    missing = [f"{folder}/{name}" for folder, name in named if not _exists(folder, name)]
    assert not missing, f"docs/architecture.md names files that do not exist: {missing}"


def test_every_module_of_the_package_is_on_the_map():
    named = {name.split("/")[-1] for _, name in _named(DOC.read_text()) if name.endswith(".py")}
    text = DOC.read_text()
    left_out = [str(p.relative_to(ROOT)) for folder in ("simcore", "models", "experiments")
                for p in (ROOT / folder).rglob("*.py")
                if p.name not in ("__init__.py", "__main__.py") and p.name not in named
                and not (p.parent != ROOT / folder and f"`{p.parent.name}/`" in text)]
    assert not left_out, f"modules missing from docs/architecture.md: {left_out}"
