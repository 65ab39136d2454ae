"""The `capsim` command: `main` parses the arguments, runs a sub-command, maps errors to codes.

Exit codes:

- 0: done (bare `capsim` prints the help and exits 0).
- 1: internal error, a bug (a short message; the traceback goes to a log file it names).
- 2: a user mistake: bad scenario, value, option or directory (one line per problem,
  nothing changed on disk), or a scenario the model cannot compute (a non-finite result).
- 3: `--target-ci` not met within `--max-replications` (the run itself is complete).
- 74: the environment failed: disk full, read-only file system, permission denied
  (EX_IOERR of sysexits.h); the run is kept as "partial" and `--resume` finishes it.
- 130: interrupted by Ctrl-C; 143: stopped by SIGTERM (the run is kept as "partial").

The modules: `parser` (the arguments), `commands` (one function per sub-command, each a
call of `capsim.api` and its printing), `tables` (the plain-text tables), `errors` (the
exit codes and the errors told apart).
"""

from __future__ import annotations

import logging
import signal
import sys

from capsim.experiments.cli.commands import COMMANDS, EXPERIMENTS
from capsim.experiments.cli.errors import EXIT_OK, exit_code, on_sigterm
from capsim.experiments.cli.parser import build_parser

__all__ = ["EXPERIMENTS", "build_parser", "main"]


LEVELS = {-1: logging.WARNING, 0: logging.INFO, 1: logging.DEBUG}
"""The `capsim` logger's level by --quiet (-1), neither (0) and --verbose (1)."""


class _Stderr(logging.StreamHandler):
    """Messages as plain lines on the current sys.stderr (which tests and notebooks swap)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("%(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `capsim` script; returns the exit code (see the module docstring)."""
    import threading

    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, on_sigterm)
    handler = _Stderr()
    logger = logging.getLogger("capsim")
    level, propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.propagate = False  # the command's own lines, not again through the root logger
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        logger.setLevel(LEVELS[args.verbosity])
        if args.command is None:  # bare `capsim`: the help, and a clean exit
            parser.print_help()
            return EXIT_OK
        if getattr(args, "json", None) is not None:  # checked before any work
            from capsim.experiments.pipelines.outputs import output_file

            output_file(args.json, f"{args.command} --json")
        return COMMANDS[args.command](args)
    except (Exception, KeyboardInterrupt) as exc:
        return exit_code(exc)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
