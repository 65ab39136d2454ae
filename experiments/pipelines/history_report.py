"""The history of a run made readable: the sentence, the counts by kind and the table.

Reads the "history" section of summary.json (`models.history.score`): per observation the
observed value and its range, the run's 90% band, inside or not, the share of
replications inside the observed range, the CRPS relative to the value, its kind, and
whether the run's inputs were fitted to it (when the run says so).
"""

from __future__ import annotations

from capsim.simcore.plots import human

COLUMNS = (("name", "observation"), ("kind", "kind"), ("use", "fitted or held out"),
           ("date", "date"), ("observed", "observed"), ("range", "observed range"),
           ("band", "run's 90% band (median)"), ("inside", "inside the band"),
           ("in_range", "replications in the observed range"),
           ("crps", "CRPS / value"), ("unit", "unit"), ("source", "source"))
"""The table's columns: (key, heading)."""


def kind_of_unit(unit: str) -> str:
    """How to write values of a unit: "usd" for dollars, else "count"."""
    return "usd" if unit.strip().upper().startswith("USD") else "count"


def _v(x: object, kind: str) -> str:
    """A value for people (numbers formatted, anything else as given, missing as -)."""
    if isinstance(x, int | float) and not isinstance(x, bool):
        return human(float(x), kind)
    return "-" if x is None else str(x)


def _use(r: dict) -> str:
    if "fitted" not in r:
        return "-"
    return "fitted" if r["fitted"] else "held out"


def table_row(r: dict) -> dict:
    """One observation's row, formatted for people."""
    k = kind_of_unit(str(r.get("unit", "")))
    share = r.get("share_in_range")
    crps = r.get("crps_relative")
    return {
        "name": r.get("name", "-"), "kind": r.get("kind", "-"), "use": _use(r),
        "date": r.get("date", "-"), "observed": _v(r.get("observed"), k),
        "range": f"{_v(r.get('low'), k)} - {_v(r.get('high'), k)}",
        "band": f"{_v(r.get('p05'), k)} - {_v(r.get('p95'), k)} ({_v(r.get('p50'), k)})",
        "inside": "yes" if r.get("inside") else "NO",
        "in_range": _v(share, "share"),
        "crps": f"{crps:.2f}" if crps is not None else "-",
        "unit": r.get("unit", ""), "source": r.get("source", "")}


def counts(h: dict) -> str:
    """'independent: 3 of 9 inside the band; input-echo: 9 of 9; plan: 1 of 1' (or the total)."""
    by_kind = h.get("by_kind")
    if not by_kind:
        return f"{h['inside']} of {h['total']} inside the band"
    return "; ".join(f"{k}: {c['inside']} of {c['total']} inside" for k, c in by_kind.items())


def history_rows(summary: dict) -> dict | None:
    """The history section of the report (None when the run has none)."""
    h = summary.get("history")
    if not isinstance(h, dict) or "observations" not in h:
        return None
    what = h.get("predictive", "the run's replications")
    sentence = (f"{h['inside']} of {h['total']} public observations fall inside the model's "
                f"band ({h.get('band', '90%')}, {what}). By kind: {counts(h)}.")
    ind = (h.get("by_kind") or {}).get("independent")
    if ind and ind.get("mean_share_in_range") is not None:
        sentence += (f" Only the independent observations test the model: on average "
                     f"{human(ind['mean_share_in_range'], 'share')} of replications pass "
                     "through their observed ranges")
        if ind.get("mean_crps_relative") is not None:
            sentence += f", and their CRPS is {ind['mean_crps_relative']:.2f} x the value"
        sentence += "."
    rows = [table_row(r) for r in h["observations"]]
    return {"sentence": sentence, "columns": COLUMNS, "rows": rows,
            "scores": h.get("scores", ""),
            "observations": h["observations"]}
