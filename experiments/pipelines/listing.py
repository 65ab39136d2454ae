"""What a user can set and read: every scenario key, every KPI and series, as rows.

`capsim keys` and `capsim kpis` print these rows, and `docs/gen_reference.py` writes the
docs' reference pages from them, so the command line and the docs read one source: the
scenario schema (`capsim.models.scenario`) and the registry (`capsim.models.kpis`).

Keys are spelled as `--set` and `sensitivity --param` take them: tables with dots, list
entries with `[i]` (`demand.growth_by_period[2].rate`).
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from dataclasses import dataclass
from typing import Any

from capsim.models import kpis as registry
from capsim.models.scenario import Param, Scenario
from capsim.models.scenario.params import Sourced
from pydantic import BaseModel


@dataclass(frozen=True)
class KeyRow:
    """One settable scenario key: its value (or distribution), unit and source."""

    key: str
    value: str
    unit: str
    source: str


@dataclass(frozen=True)
class MetricRow:
    """One KPI or series of the registry."""

    table: str
    name: str
    unit: str
    kind: str
    definition: str


def _num(v: float) -> str:
    return f"{v:.6g}"


def describe_param(p: Param) -> str:
    """A parameter's distribution in a few words: `2.5`, `triangular(1, 2, 3)`, ..."""
    d = p.as_toml()
    dist = d.pop("dist", None)
    for k in ("unit", "source"):
        d.pop(k, None)
    if dist is None:
        return _num(d.get("value", p.base))
    args = ", ".join(f"{k}={_num(v) if isinstance(v, float | int) else v}"
                     for k, v in d.items())
    return f"{dist}({args})"


def _plain(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float | int):
        return _num(v)
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, str):
        return repr(v) if v == "" else v
    if isinstance(v, list) and all(not isinstance(x, BaseModel | dict) for x in v):
        text = "[" + ", ".join(_plain(x) for x in v) + "]"
        return text if len(text) <= 60 else text[:57] + "...]"
    return str(v)


def _walk(key: str, obj: Any, out: list[KeyRow]) -> None:
    if isinstance(obj, Param):
        out.append(KeyRow(key, describe_param(obj), obj.unit, obj.source))
    elif isinstance(obj, Sourced):
        values = _plain(list(obj.values))
        if obj.low is not None and obj.high is not None:
            values += " (each triangular between low and high)"
        out.append(KeyRow(f"{key}.values", values, obj.unit, obj.source))
    elif isinstance(obj, BaseModel):
        for name, field in type(obj).model_fields.items():
            v = getattr(obj, name)
            if v is None or name == "extends":
                continue
            _walk(f"{key}.{field.alias or name}" if key else (field.alias or name), v, out)
    elif isinstance(obj, dict):
        for k, v in obj.items():
            _walk(f"{key}.{k}", v, out)
    elif isinstance(obj, list) and any(isinstance(x, BaseModel | dict) for x in obj):
        for i, v in enumerate(obj):
            _walk(f"{key}[{i}]", v, out)
    else:
        out.append(KeyRow(key, _plain(obj), "", ""))


def scenario_keys(scenario: Scenario, pattern: str | None = None) -> list[KeyRow]:
    """Every key of a resolved scenario, in file order; `pattern` filters them.

    A pattern with `*`, `?` or `[` is a shell-style glob on the whole key; any other
    pattern keeps the keys that contain it (case-insensitive).
    """
    rows: list[KeyRow] = []
    _walk("", scenario, rows)
    if not pattern:
        return rows
    if any(c in pattern for c in "*?"):
        return [r for r in rows if fnmatch.fnmatchcase(r.key, pattern)]
    p = pattern.lower()
    return [r for r in rows if p in r.key.lower()]


_TABLES = (("kpis", registry.KPIS, ""), ("cloud kpis", registry.CLOUD_KPIS, "__<cloud>"),
           ("series", registry.SERIES, ""),
           ("group series", registry.GROUP_SERIES, "__<generation, cloud or pool>"))


def metrics(pattern: str | None = None) -> list[MetricRow]:
    """Every KPI and series of the registry (per-group names as `stem__<group>`)."""
    rows = [MetricRow(table, m.name + suffix, m.unit, m.kind, m.definition)
            for table, entries, suffix in _TABLES for m in entries.values()]
    if pattern:
        p = pattern.lower()
        rows = [r for r in rows if p in r.name.lower() or p in r.definition.lower()]
    return rows


def label(name: str) -> str:
    """A readable label of a KPI or series: its name in words, with its unit."""
    m = registry.lookup(name, "kpis") or registry.lookup(name, "series") \
        or registry.CLOUD_KPIS.get(name)
    words = name.replace("__", " ").replace("_", " ")
    words = words.replace("p shortfall any", "P(shortfall)").replace(" usd", "").replace(
        " tps", "")
    return f"{words[:1].upper()}{words[1:]}" + (f" ({m.unit})" if m is not None and m.unit
                                                 else "")
