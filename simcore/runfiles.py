"""The names in a run directory, and the error for a directory that cannot be used.

Shared by the store (`simcore.store`) and the atomic replacement of its files
(`simcore.replace`), which the store calls.
"""

from __future__ import annotations

import re

PART_NAME = re.compile(r"^(ts|kpis|ev)-\d{6}\.parquet$")
"""A part file: one table of one replication."""
TEMP_NAME = re.compile(r"^\..+\.tmp$")
"""capsim's temporary files: `.<name>.<random>.tmp`, renamed into place when whole."""
MANIFEST = "manifest.json"
PARTS = "parts"
LOCK = ".lock"


class StoreError(Exception):
    """A run directory that cannot be used as asked (exists, not ours, ...)."""
