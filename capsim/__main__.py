"""`python -m capsim ...` is the `capsim` command.

Exit codes (see `capsim.experiments.cli`): 0 done, 1 internal error, 2 user mistake,
3 `--target-ci` not met, 74 disk full / read-only / permission denied (run kept
resumable), 130 Ctrl-C, 143 SIGTERM (run kept partial).
"""

import sys

from capsim.experiments.cli import main

if __name__ == "__main__":
    sys.exit(main())
