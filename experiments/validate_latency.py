"""Entry point of `python -m capsim.experiments.validate_latency` (kept for the commands in README).

The module is `capsim.experiments.tools.validate_latency`.
"""

import sys

from capsim.experiments.tools.validate_latency import main

if __name__ == "__main__":
    sys.exit(main())
