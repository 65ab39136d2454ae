"""Names in a run directory that `store` and `replace` both know, and their error.

They live apart from `store` so that `replace` (which `store` calls to replace a run
directory) need not import `store` back.
"""

from __future__ import annotations

import re

PART_NAME = re.compile(r"^(ts|kpis|ev)-\d{6}\.parquet$")
"""A part file: one table of one replication."""
TEMP_NAME = re.compile(r"^\..+\.tmp$")
"""capsim's temporary files: `.<name>.<random>.tmp`, renamed into place when whole."""


class StoreError(Exception):
    """A run directory that cannot be used as asked (exists, not ours, ...)."""
