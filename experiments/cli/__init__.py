"""The `capsim` command (see `capsim.experiments.cli.commands` for the exit codes)."""

from capsim.experiments.cli.commands import EXPERIMENTS, build_parser, main

__all__ = ["EXPERIMENTS", "build_parser", "main"]
