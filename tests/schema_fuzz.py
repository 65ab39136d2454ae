"""Hypothesis strategies for bad scenario input, generated from the schema.

`leaves()` walks the pydantic models of `capsim.models.scenario.Scenario` (tables of named
entries take their names from the default scenario), so a field added to the schema is
fuzzed without touching this file. `bad_override()` draws a (key, TOML value) pair: NaN,
+-inf, 1e308, negatives, zero, fractions for counts, huge strings, deep nesting, unicode,
wrong types, and distribution tables with such numbers inside.
"""

from __future__ import annotations

import datetime as dt
import types
import typing
from functools import cache

from capsim.models.scenario import Param, Scenario, load, parse_toml, to_toml
from hypothesis import strategies as st
from pydantic import BaseModel

NUMBERS = ["nan", "-nan", "inf", "-inf", "+inf", "1e308", "-1e308", "1.7976931348623157e308",
           "1e300", "-1", "-1e-9", "-0.0", "0", "5e-324", "1e-300", "0.5", "1.5", "2", "24.5",
           "1e6", "1e9", "1e12", "1e15", "1e16", "-1e12", "9223372036854775807",
           "-9223372036854775808"]
"""Numbers that break naive code: non-finite, extreme, negative, zero, fractional."""
OTHER = ['"' + "x" * 200_000 + '"', "[" * 3000 + "1" + "]" * 3000, "{a = " * 300 + "1" + "}" * 300,
         '"ü€😀 \\u0000 \u202e"', '"Ω"', '""', "true", "false", "{a = 1}", "[1, 2]", "[]",
         "1979-05-27", "1979-05-27T07:32:00Z", "0001-01-01", "9999-12-31", '"2026-04-01"']
"""Values of the wrong kind or size: huge strings, deep nesting, unicode, other types."""


def _strip_optional(ann: typing.Any) -> typing.Any:
    if typing.get_origin(ann) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(ann) if a is not type(None)]
        return args[0] if len(args) == 1 else ann
    return ann


def _kind(ann: typing.Any) -> str:
    ann = _strip_optional(ann)
    if ann is Param:
        return "param"
    if ann in (float, int):
        return "number"
    if ann is dt.date:
        return "date"
    if ann is bool:
        return "bool"
    if typing.get_origin(ann) is list:
        return "list"
    return "other"


def _walk(model: type[BaseModel], data: dict, prefix: tuple[str, ...]
          ) -> typing.Iterator[tuple[str, str]]:
    for name, field in model.model_fields.items():
        key = field.alias or name
        ann = _strip_optional(field.annotation)
        here = (*prefix, key)
        sub = data.get(key) if isinstance(data, dict) else None
        if isinstance(ann, type) and issubclass(ann, BaseModel) and ann is not Param:
            yield ".".join(here), "table"
            yield from _walk(ann, sub if isinstance(sub, dict) else {}, here)
        elif typing.get_origin(ann) is dict:
            value = _strip_optional(typing.get_args(ann)[1])
            names = list(sub) if isinstance(sub, dict) and sub else ["new_entry"]
            yield ".".join(here), "table"
            for n in names:
                if isinstance(value, type) and issubclass(value, BaseModel) and value is not Param:
                    yield from _walk(value, sub.get(n, {}) if isinstance(sub, dict) else {},
                                     (*here, n))
                else:
                    yield ".".join((*here, n)), _kind(value)
        else:
            yield ".".join(here), _kind(ann)


@cache
def leaves() -> list[tuple[str, str]]:
    """(dotted key, kind) of every field of the schema, over the default scenario's names."""
    data = parse_toml("default", to_toml(load()[0]))
    return sorted(set(_walk(Scenario, data, ())))


def _table(dist: str, a: str, b: str) -> str:
    body = {"constant": f"value = {a}", "uniform": f"low = {a}, high = {b}",
            "triangular": f"low = {a}, mode = {a}, high = {b}",
            "normal": f"mean = {a}, sd = {b}", "lognormal": f"median = {a}, sigma = {b}",
            "pert": f"low = {a}, mode = {b}, high = {b}"}[dist]
    if dist != "constant":
        body = f'dist = "{dist}", {body}'
    return "{" + body + ', unit = "u", source = "fuzz"}'


number = st.sampled_from(NUMBERS)
param_table = st.builds(_table, st.sampled_from(["constant", "uniform", "triangular", "normal",
                                                 "lognormal", "pert"]), number, number)


def values(kind: str) -> st.SearchStrategy[str]:
    """Bad (or borderline) TOML values for a field of `kind`."""
    base = st.one_of(number, st.sampled_from(OTHER))
    if kind == "param":
        return st.one_of(base, param_table)
    if kind == "list":
        return st.one_of(base, st.lists(number, max_size=4).map(lambda x: f"[{', '.join(x)}]"))
    return base


@st.composite
def bad_override(draw) -> tuple[str, str]:
    """A (key, value) pair for `--set key=value` on any field of the schema."""
    key, kind = draw(st.sampled_from(leaves()))
    return key, draw(values(kind))
