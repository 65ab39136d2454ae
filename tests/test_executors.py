"""The local process pool: lean workers that end with the process that made them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = '''
import json, os, sys
import pandas  # the main module of a command imports tables, as the console script does
from capsim.simcore.executors import ProcessExecutor

if __name__ == "__main__":
    ex = ProcessExecutor(2)
    pids = sorted(set(ex.imap_unordered(os.getpid, [()] * 6)))
    maps = {p: open(f"/proc/{p}/maps").read() for p in pids}
    parents = {p: open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[1] for p in pids}
    ex.close()
    print(json.dumps({"me": os.getpid(), "parents": parents,
                      "loaded": {p: [lib for lib in ("pandas", "pyarrow") if lib in m]
                                 for p, m in maps.items()}}))
'''


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs /proc")
def test_pool_workers_do_not_load_what_the_parent_imported(tmp_path):
    script = tmp_path / "command.py"
    script.write_text(SCRIPT)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=120, check=True)
    got = json.loads(out.stdout)
    assert got["loaded"], "no worker answered"
    # Neither inherited from the parent (workers fork from a fork server) nor imported
    # again with the parent's main module.
    assert all(libs == [] for libs in got["loaded"].values()), got["loaded"]
    assert all(int(pp) != got["me"] for pp in got["parents"].values())


MAIN_TASK = '''
from capsim.simcore.executors import ProcessExecutor


def square(x):
    return x * x


if __name__ == "__main__":
    ex = ProcessExecutor(2)
    print(sorted(ex.imap_unordered(square, [(i,) for i in range(5)])))
    ex.close()
'''


def test_tasks_defined_in_a_script_still_run_on_the_pool(tmp_path):
    script = tmp_path / "script.py"
    script.write_text(MAIN_TASK)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=120, check=True)
    assert out.stdout.strip() == "[0, 1, 4, 9, 16]"
