"""Entry point of `python -m capsim.experiments.rival_tenant` (kept for the commands in README).

The module is `capsim.experiments.questions.rival_tenant`.
"""

import sys

from capsim.experiments.questions.rival_tenant import main

if __name__ == "__main__":
    sys.exit(main())
