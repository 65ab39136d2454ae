"""Results come from the registry: each component reports exactly the names it is given."""

from __future__ import annotations

import numpy as np
import pytest
from capsim.models import kpis
from capsim.models.reporters import REPORTERS
from capsim.models.results import Report


def test_every_registered_name_has_a_reporter_and_every_reporter_a_registry_entry():
    assert [c for c, _ in REPORTERS] == list(kpis.REPORTED_BY)
    for table in (kpis.KPIS, kpis.CLOUD_KPIS, kpis.SERIES, kpis.GROUP_SERIES):
        assert all(m.component in kpis.REPORTED_BY for m in table.values())


def test_a_replication_reports_every_name_once(short_scenario):
    from capsim.models.capacity import CapacityModel, series_names
    from capsim.simcore.simulation import run_replication

    r = run_replication(CapacityModel, short_scenario, 3, 0)
    assert sorted(r.timeseries) == sorted(series_names(short_scenario))
    clouds = [n for n, c in short_scenario.clouds.items() if c.enabled]
    assert list(r.kpis) == [*kpis.kpi_names(), *kpis.milestone_names(),
                            *(f"{k}__{c}" for c in clouds for k in kpis.CLOUD_KPIS)]


def _report() -> Report:
    return Report(3, ["g"], ["aws"], [])


def test_a_name_reported_by_the_wrong_component_is_refused():
    out = _report()
    out.component = "finance"
    with pytest.raises(ValueError, match="registry gives to component 'service'"):
        out.put("demand_tps", np.zeros(3))
    with pytest.raises(ValueError, match="no component"):
        out.kpi("not_a_kpi", 1.0)


def test_a_name_reported_twice_or_left_out_is_an_error():
    out = _report()
    out.component = "tenants"
    out.kpi("tenant_power_mw_end", 0.0)
    with pytest.raises(ValueError, match="twice"):
        out.kpi("tenant_power_mw_end", 0.0)
    with pytest.raises(ValueError, match="not reported"):
        out.result(0, [])


def test_the_registry_refuses_an_unknown_or_unassigned_name(monkeypatch):
    monkeypatch.setitem(kpis.REPORTED_BY, "tenants", ("tenant_power_mw_end", "bogus_kpi"))
    with pytest.raises(ValueError, match="bogus_kpi"):
        kpis._assign_components()
