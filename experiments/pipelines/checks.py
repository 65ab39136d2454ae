"""Errors and argument checks shared by the API, the CLI, the questions and the tools."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def int_at_least(minimum: int, name: str = "value") -> Callable[[str], int]:
    """An argparse type: a whole number >= `minimum`; argparse turns errors into exit 2."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{name} must be a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{name} must be >= {minimum}, got {value}")
        return value

    return parse


class UsageError(Exception):
    """A caller's mistake (a bad value, option or directory): `capsim` exits 2."""
