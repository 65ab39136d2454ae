"""Finding and parsing scenario text: embedded names, file paths, TOML with size limits."""

from __future__ import annotations

import difflib
import tomllib
from importlib import resources
from pathlib import Path

from capsim.models import validation
from capsim.models.scenario.errors import ScenarioError

SCENARIO_PACKAGE = "capsim.models.scenarios"
"""The package whose TOML files are the embedded scenarios."""
DEFAULT_SCENARIO = "aws-anthropic-2026"
"""The scenario run when none is named."""


def embedded_names() -> list[str]:
    """Names of the scenarios shipped inside the package."""
    files = resources.files(SCENARIO_PACKAGE)
    return sorted(p.name[:-5] for p in files.iterdir() if p.name.endswith(".toml"))


def resolve_path(name_or_path: str | Path | None) -> tuple[str, str]:
    """(label, TOML text) of an embedded scenario name or a file path.

    A file must be a regular file of at most `validation.MAX_FILE_BYTES`, in UTF-8.
    """
    if name_or_path is None:
        name_or_path = DEFAULT_SCENARIO
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.exists() or "/" in str(name_or_path):
        try:
            return str(p), validation.read_limited(p)
        except FileNotFoundError:
            raise ScenarioError(str(p), ["file not found"]) from None
        except ValueError as exc:
            raise ScenarioError(str(p), [str(exc)]) from None
        except OSError as exc:
            raise ScenarioError(str(p), [f"cannot read: {exc.strerror or exc}"]) from None
    if str(name_or_path) in embedded_names():
        res = resources.files(SCENARIO_PACKAGE) / f"{name_or_path}.toml"
        return f"{name_or_path} (embedded)", res.read_text(encoding="utf-8")
    hint = difflib.get_close_matches(str(name_or_path), embedded_names(), n=1)
    msg = f"no scenario file or embedded scenario named {str(name_or_path)!r}"
    if hint:
        msg += f"; did you mean {hint[0]!r}?"
    raise ScenarioError(str(name_or_path), [msg + f" (embedded: {', '.join(embedded_names())})"])


def parse_toml(label: str, text: str) -> dict:
    """Parse TOML text; a syntax error (or a file too big or deep) becomes a ScenarioError."""
    try:
        validation.check_text(text)
        return tomllib.loads(text)
    except ValueError as exc:  # TOMLDecodeError is a ValueError
        if "integer string conversion" in str(exc):  # Python's 4,300-digit limit
            raise ScenarioError(label, ["a number too long to read (at most 4,300 digits)"]
                                ) from None
        prefix = "TOML syntax error: " if isinstance(exc, tomllib.TOMLDecodeError) else ""
        raise ScenarioError(label, [f"{prefix}{exc}"]) from None
    except RecursionError:
        raise ScenarioError(label, ["nested too deeply"]) from None
