"""Errors in input files, told the way a person fixes them: file, line, key and problem.

`ScenarioError` carries one line per problem. `format_errors` turns a pydantic
`ValidationError` into those lines: each names the key (dotted path) and, when the TOML
text shows it plainly, its line; an unknown key gets the closest allowed key as a "did you
mean" hint. The observation files use the same functions with their own root model.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from pydantic import BaseModel, ValidationError


class ScenarioError(Exception):
    """A scenario (or an override) that cannot be used; `problems` has one line each."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(f"{source}: {p}" for p in problems))


def allowed_keys(model: type[BaseModel]) -> list[str]:
    """The keys a table of `model` may have, as written in TOML (aliases where given)."""
    return [f.alias or n for n, f in model.model_fields.items()]


def model_at(loc: tuple, root: type[BaseModel]) -> type[BaseModel] | None:
    """The model of the table holding the last key of `loc`, walking the schema from `root`.

    None when the path leaves the models (a plain value, a union the walk cannot follow).
    """
    model: Any = root
    for part in loc[:-1]:
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return None
        field = model.model_fields.get(str(part))
        if field is None:
            # A dict of models (generations, campuses): keep the model of its values.
            continue
        ann = field.annotation
        args = getattr(ann, "__args__", ())
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            model = ann
        elif args and isinstance(args[-1], type) and issubclass(args[-1], BaseModel):
            model = args[-1]
        else:
            return None
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


_HEADER = re.compile(r"^\s*\[\s*([^\]\[]+?)\s*\]\s*(#.*)?$")
_ARRAY_HEADER = re.compile(r"^\s*\[\[\s*([^\]\[]+?)\s*\]\]\s*(#.*)?$")


def _header_path(line: str, seen: dict[tuple[str, ...], int]) -> list[str] | None:
    """The key path a `[table]` or `[[array]]` header line opens, or None for other lines.

    An array's entries are counted in `seen`, so the n-th `[[a]]` opens path a.<n-1>,
    the path pydantic gives errors in that entry.
    """
    m = _HEADER.match(line)
    if m:
        return [n.strip().strip('"') for n in m.group(1).split(".")]
    m = _ARRAY_HEADER.match(line)
    if m is None:
        return None
    names = tuple(n.strip().strip('"') for n in m.group(1).split("."))
    seen[names] = seen.get(names, -1) + 1
    return [*names, str(seen[names])]


def line_of(text: str | None, loc: tuple) -> int | None:
    """Line (1-based) where the key at `loc` is written, when the text shows it plainly.

    Finds the deepest `[table]` (or `[[array]]` entry) header that is a prefix of the
    key, then the first `key =` line below it for the next part of the key. Keys inside
    inline tables are reported at the line of the inline table; a missing key at its
    table's header.
    """
    if not text or not loc:
        return None
    lines = text.splitlines()
    parts = [str(p) for p in loc]
    start, depth = 0, 0
    seen: dict[tuple[str, ...], int] = {}
    headers = set()
    for i, line in enumerate(lines):
        names = _header_path(line, seen)
        if names is None:
            continue
        headers.add(i)
        if names == parts[: len(names)] and len(names) >= depth:
            start, depth = i + 1, len(names)
    if depth >= len(parts):
        return start
    key = re.compile(rf"^\s*\"?{re.escape(parts[depth])}\"?\s*=")
    for i in range(start, len(lines)):
        if i > start and i in headers:
            break
        if key.match(lines[i]):
            return i + 1
    # Not written (a missing key): point at its table's header.
    return start if depth else None


def line_prefix(text: str | None, loc: tuple) -> str:
    """"line 12: " when `line_of` finds the key at `loc`, else ""."""
    line = line_of(text, loc)
    return f"line {line}: " if line else ""


def key_label(text: str | None, loc: tuple, at: tuple = ()) -> str:
    """How a problem names its key: "line 12: demand.enterprise.customers".

    `at` is where the validated table sits in the file (for instance ("observation", 3)):
    it is used to find the line but left out of the name.
    """
    return line_prefix(text, (*at, *loc)) + ".".join(str(p) for p in loc) or "(top level)"


_DIST_TAGS = ("constant", "uniform", "triangular", "normal", "lognormal", "pert")
"""Tags pydantic puts in the location of an error inside a distribution spec."""


def format_errors(exc: ValidationError, root: type[BaseModel], text: str | None = None,
                  at: tuple = ()) -> list[str]:
    """One line per problem of a failed validation of a `root` table.

    Args:
        exc: the validation error.
        root: the model that was validated (its schema gives "did you mean" hints).
        text: the TOML text it was read from, for line numbers (None: no line numbers).
        at: where the validated table sits in that text (see `key_label`).
    """
    problems = []
    for err in exc.errors():
        # A parameter's spec (and the tag of its distribution) is not written in the file.
        loc = tuple(p for p in err["loc"] if p != "spec" and not (isinstance(p, str) and p in
                    _DIST_TAGS))
        key = key_label(text, loc, at)
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            model = model_at(loc, root)
            hint = ""
            if model is not None:
                close = difflib.get_close_matches(str(loc[-1]), allowed_keys(model), n=1)
                if close:
                    hint = f"; did you mean {close[0]!r}?"
            problems.append(f"{key}: unknown key{hint}")
            continue
        if err["type"] == "missing":
            problems.append(f"{key}: required key is missing")
            continue
        value = err.get("input")
        shown = "" if isinstance(value, dict | list) or value is None else f" (got {value!r})"
        if not loc:  # a rule across keys: its message names them
            problems.append(msg)
            continue
        problems.append(f"{key}: {msg}{shown}")
    return problems
