"""Time constants: the one place they are defined.

Simulation time is in hours (`simcore.clock.SimTime`); demand and service are evaluated
per day. A year is the Julian year of 365.25 days, so that rates per year and the daily
grid agree over a decade whatever its leap days. Every constant here is exact in binary
floating point, so `x / DAYS_PER_MONTH` and `x / 365.25 * 12` differ only by rounding.
"""

from __future__ import annotations

HOURS_PER_DAY = 24.0
DAYS_PER_YEAR = 365.25
"""The Julian year."""
MONTHS_PER_YEAR = 12
DAYS_PER_MONTH = DAYS_PER_YEAR / MONTHS_PER_YEAR
"""30.4375: a twelfth of a year (monthly KPIs use calendar months; this is for rates)."""
DAYS_PER_QUARTER = DAYS_PER_YEAR / 4
HOURS_PER_MONTH = DAYS_PER_MONTH * HOURS_PER_DAY
HOURS_PER_YEAR = DAYS_PER_YEAR * HOURS_PER_DAY
SECONDS_PER_HOUR = 3600.0
SECONDS_PER_DAY = HOURS_PER_DAY * SECONDS_PER_HOUR
SECONDS_PER_YEAR = DAYS_PER_YEAR * SECONDS_PER_DAY
