"""`python -m capsim.experiments.cli ...` is the `capsim` command."""

import sys

from capsim.experiments.cli import main

if __name__ == "__main__":
    sys.exit(main())
