"""The golden digest (tests/golden_digest.py): results are pinned bit for bit.

A change that should leave results alone keeps this test green; a change of semantics
regenerates tests/golden.json (`python tests/golden_digest.py --write`) in its own commit.
"""

from __future__ import annotations

import copy
import json

from golden_digest import GOLDEN, compute, differences


def test_results_match_the_golden_digest():
    diff = differences(json.loads(GOLDEN.read_text()), compute())
    assert not diff, "\n".join(diff)


def test_a_changed_quantity_is_named():
    stored = json.loads(GOLDEN.read_text())
    fresh = copy.deepcopy(stored)
    run = sorted(fresh["runs"])[0]
    name = next(q for q in sorted(fresh["runs"][run]) if q.startswith("kpi."))
    fresh["runs"][run][name] = {"sha": "0" * 24, "value": 1.0}
    diff = differences(stored, fresh)
    assert any(line.startswith(f"{run} {name}:") for line in diff)
    assert diff[-1] == f"1 quantities differ from {GOLDEN.name}"


def test_rounding_by_another_cpu_is_not_a_change_but_a_moved_figure_is():
    stored = json.loads(GOLDEN.read_text())
    run = sorted(stored["runs"])[0]
    name = next(q for q in sorted(stored["runs"][run]) if q.startswith("series.")
                and stored["runs"][run][q].get("sum"))
    for scale, named in ((1 + 1e-13, False), (1 + 1e-6, True)):
        fresh = copy.deepcopy(stored)
        q = fresh["runs"][run][name]
        q.update(sha="f" * 24, sum=q["sum"] * scale)
        diff = differences(stored, fresh)
        assert any(line.startswith(f"{run} {name}:") for line in diff) is named
        assert bool(differences(stored, fresh, exact=True))
