"""What is laid over a scenario file before validation: its base scenario and `--set` overrides.

Both work on the parsed TOML (plain dicts), so errors can name keys as written.
"""

from __future__ import annotations

import copy
import difflib
import re
import tomllib
from pathlib import Path

from capsim.models import validation
from capsim.models.scenario.errors import ScenarioError, allowed_keys, model_at
from capsim.models.scenario.files import parse_toml, resolve_path
from capsim.models.scenario.schema import Scenario


def apply_overrides(label: str, data: dict, overrides: list[str]) -> dict:
    """Apply `key.path=value` overrides (values in TOML syntax, bare words as strings)."""
    data = copy.deepcopy(data)
    problems = []
    for item in overrides:
        key, sep, raw = item.partition("=")
        key, raw = key.strip(), raw.strip()
        if not sep or not key or not raw:
            problems.append(f"--set {item!r}: expected key=value")
            continue
        if key == "scenario.extends":
            problems.append("--set scenario.extends: a base scenario is chosen in the file "
                            "([scenario] extends = ...), not by --set; name the scenario to run "
                            "instead")
            continue
        try:
            validation.check_text(raw)
        except ValueError as exc:
            problems.append(f"--set {key}: value {exc}")
            continue
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except ValueError as exc:
            if not isinstance(exc, tomllib.TOMLDecodeError):  # Python's 4,300-digit limit
                problems.append(f"--set {key}: a number of {len(raw):,} characters is too "
                                "long to read (at most 4,300 digits)")
                continue
            bare = raw.replace("-", "").replace("_", "").replace(".", "")
            if bare.isalnum() and not raw[0].isdigit():
                value = raw
            else:
                problems.append(f"--set {key}: cannot parse value {raw!r}")
                continue
        except RecursionError:
            bare = raw.replace("-", "").replace("_", "").replace(".", "")
            if bare.isalnum() and not raw[0].isdigit():
                value = raw
            else:
                problems.append(f"--set {key}: cannot parse value {raw!r}")
                continue
        parts = key.split(".")
        if len(parts) > validation.MAX_DEPTH:
            problems.append(f"--set {key[:80]}: key nested deeper than {validation.MAX_DEPTH}")
            continue
        node = data
        for i, part in enumerate(parts[:-1]):
            part, index = _indexed(part)
            if not isinstance(node, dict) or part not in node:
                here = ".".join(parts[: i + 1])
                choices = list(node) if isinstance(node, dict) else []
                close = difflib.get_close_matches(part, choices, n=1)
                problems.append(f"--set {key}: unknown key {here!r}"
                                + (f"; did you mean {close[0]!r}?" if close else ""))
                break
            node = node[part]
            if index is not None:
                if not isinstance(node, list) or not -len(node) <= index < len(node):
                    size = len(node) if isinstance(node, list) else 0
                    problems.append(f"--set {key}: {'.'.join(parts[: i + 1])} has no entry "
                                    f"{index} (it has {size})")
                    break
                node = node[index]
        else:
            last = parts[-1]
            if not isinstance(node, dict):
                problems.append(f"--set {key}: {'.'.join(parts[:-1])} is not a table")
            elif last not in node:
                model = model_at(tuple(parts), Scenario)
                known = allowed_keys(model) if model else list(node)
                if last in known:
                    node[last] = value  # an optional key that the file leaves at its default
                else:
                    close = difflib.get_close_matches(last, known, n=1)
                    problems.append(f"--set {key}: unknown key"
                                    + (f"; did you mean {close[0]!r}?" if close else ""))
            elif isinstance(node[last], dict) and not isinstance(value, dict):
                # Setting a parameter to a number keeps its unit and makes it constant.
                old = node[last]
                node[last] = {"value": value, "unit": old.get("unit", ""),
                              "source": f"override --set {key}={raw}"}
            else:
                node[last] = value
    if problems:
        raise ScenarioError(label, problems)
    return data


def _indexed(part: str) -> tuple[str, int | None]:
    """`name[i]` as (name, i), the spelling of a list entry; a plain name as (name, None)."""
    m = re.fullmatch(r"(.+)\[(-?\d+)\]", part)
    return (m.group(1), int(m.group(2))) if m else (part, None)


def _is_param(d: dict) -> bool:
    # A parameter always has a source (or a distribution, or a value); a plain table such
    # as a pool may have a `unit` of its own and still merges key by key.
    return "source" in d or "dist" in d or "value" in d


def _merge(base: dict, child: dict) -> dict:
    """`child` laid over `base`.

    `child` laid over `base`: tables merge key by key; a parameter (in the base or the
    child) and any other value is replaced whole.
    """
    out = copy.deepcopy(base)
    for k, v in child.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict) and not (
                _is_param(v) or _is_param(out[k])):
            out[k] = _merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def resolve_extends(label: str, data: dict, name_or_path, depth: int = 0,
            chain: tuple[str, ...] = ()) -> tuple[str, ...]:
    """Resolve `scenario.extends` in place (a chain of up to 8); the chain, () if none.

    A base given as a path (it has a "/" or a suffix, or names an existing file) is
    resolved relative to the directory of the extending file, whatever that file's
    suffix; a bare name is an embedded scenario. Errors name the whole chain,
    "a.toml -> b.toml -> c.toml".
    """
    meta = data.get("scenario")
    if not isinstance(meta, dict) or not meta.get("extends"):
        return chain
    chain = chain or (label,)
    where = " -> ".join(chain)
    base_name = meta["extends"]
    if not isinstance(base_name, str):
        raise ScenarioError(
            where, [f"scenario.extends: must be a scenario name or path (got {base_name!r})"])
    if depth >= 8:
        raise ScenarioError(where, ["scenario.extends: chain longer than 8 (a cycle?)"])
    here = Path(str(name_or_path)) if name_or_path is not None else None
    extending_file = here is not None and here.is_file()
    if extending_file and not Path(base_name).is_absolute():
        assert here is not None
        candidate = here.parent / base_name
        # A file next to it, or anything that looks like a path; else an embedded name.
        if candidate.exists() or "/" in base_name or Path(base_name).suffix:
            base_name = str(candidate)
    try:
        base_label, base_text = resolve_path(base_name)
    except ScenarioError as exc:
        raise ScenarioError(where, [f"scenario.extends ({exc.source}): {p}"
                                    for p in exc.problems]) from None
    if base_label in chain:
        raise ScenarioError(where, [f"scenario.extends: {base_label} extends itself (a cycle)"])
    try:
        base = parse_toml(base_label, base_text)
    except ScenarioError as exc:
        raise ScenarioError(f"{where} -> {base_label}", exc.problems) from None
    full = resolve_extends(base_label, base, base_name, depth + 1, (*chain, base_label))
    merged = _merge(base, data)
    if not isinstance(merged.get("scenario"), dict):
        raise ScenarioError(f"{where} -> {base_label}", ["[scenario] must be a table"])
    merged["scenario"].pop("extends", None)
    data.clear()
    data.update(merged)
    return full or (*chain, base_label)
