"""Loading a scenario: file, base scenario and overrides to a validated `Scenario`; and back.

`load` is the entry point; `to_toml` writes the fully resolved scenario (the text a run
records), `sha256` names that text.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import tomli_w
from capsim.models import validation
from capsim.models.scenario.errors import ScenarioError, format_errors
from capsim.models.scenario.files import parse_toml, resolve_path
from capsim.models.scenario.layers import apply_overrides, resolve_extends
from capsim.models.scenario.params import Param
from capsim.models.scenario.schema import Meta, Scenario
from pydantic import BaseModel, ValidationError


def validate_dict(label: str, data: dict, text: str | None = None) -> Scenario:
    """Validate a parsed scenario.

    Validate a parsed scenario; errors become a ScenarioError naming each key (and its
    line in `text`, the file's contents, where it can be found).
    """
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(label, format_errors(exc, Scenario, text)) from None


def load(name_or_path: str | Path | None = None, overrides: list[str] | None = None
         ) -> tuple[Scenario, str]:
    """Load and validate a scenario; returns (scenario, resolved TOML text).

    Raises:
        ScenarioError: naming the file and each bad key.
    """
    label, text = resolve_path(name_or_path)
    data = parse_toml(label, text)
    based = resolve_extends(label, data, name_or_path)
    if based:  # errors name the whole chain: top.toml -> base.toml
        label = " -> ".join(based)
    if overrides:
        data = apply_overrides(label, data, overrides)
    problems = validation.check_data(data)
    if problems:
        raise ScenarioError(label, problems)
    # Line numbers refer to the file; with overrides (or a base scenario) the failing value
    # may not be written in it.
    scenario = validate_dict(label, data, None if overrides or based else text)
    try:
        validation.check_resources(scenario)
    except validation.ResourceLimit as exc:
        raise ScenarioError(label, [str(exc)]) from None
    return scenario, to_toml(scenario)


def to_toml(scenario: Scenario) -> str:
    """The fully resolved scenario as TOML (defaults filled in)."""

    def conv(obj: Any) -> Any:
        if isinstance(obj, Param):
            return obj.as_toml()
        if isinstance(obj, BaseModel):
            out = {}
            for name, field in type(obj).model_fields.items():
                v = getattr(obj, name)
                if v is None or (isinstance(obj, Meta) and name == "extends"):
                    continue
                out[field.alias or name] = conv(v)
            return out
        if isinstance(obj, dict):
            return {k: conv(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [conv(v) for v in obj]
        return obj

    return tomli_w.dumps(conv(scenario))


def sha256(text: str) -> str:
    """Hash of a resolved scenario text."""
    return hashlib.sha256(text.encode()).hexdigest()
