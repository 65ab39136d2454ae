"""Entry point of `python -m capsim.experiments.validate_queueing` (named in README).

The module is `capsim.experiments.tools.validate_queueing`.
"""

import sys

from capsim.experiments.tools.validate_queueing import main

if __name__ == "__main__":
    sys.exit(main())
