"""Entry point of `python -m capsim.experiments.benchmark` (kept for the commands in README).

The module is `capsim.experiments.tools.benchmark`.
"""

import sys

from capsim.experiments.tools.benchmark import main

if __name__ == "__main__":
    sys.exit(main())
