"""Argument types shared by the CLI and the experiment scripts."""

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
