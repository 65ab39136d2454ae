"""Progress bars: one tqdm.auto bar on stderr, shown by default in a terminal or a notebook.

`tqdm.auto` draws a widget in Jupyter and text in a terminal. The default (`enabled=None`)
shows a bar when stderr is a terminal or the code runs in a Jupyter kernel (whose stderr is
not a terminal); `True` and `False` force it on or off.
"""

from __future__ import annotations

import sys
from typing import Any


def in_notebook() -> bool:
    """Whether this process is a Jupyter kernel (IPython's ZMQ shell)."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    shell = getattr(ipython, "get_ipython", lambda: None)()
    return type(shell).__name__ == "ZMQInteractiveShell"


def shown(enabled: bool | None) -> bool:
    """Whether a bar is drawn: `enabled`, or by default in a terminal or a notebook."""
    if enabled is None:
        return sys.stderr.isatty() or in_notebook()
    return bool(enabled)


def bar(total: int | None, desc: str, unit: str = "rep", initial: int = 0,
        enabled: bool | None = None) -> Any:
    """A tqdm.auto bar on stderr, or None when none is to be shown (see `shown`)."""
    if not shown(enabled) or total == 0:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit=unit, desc=desc, file=sys.stderr,
                dynamic_ncols=True)
