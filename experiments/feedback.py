"""Entry point of `python -m capsim.experiments.feedback` (kept for the commands in README).

The module is `capsim.experiments.questions.feedback`.
"""

import sys

from capsim.experiments.questions.feedback import main

if __name__ == "__main__":
    sys.exit(main())
