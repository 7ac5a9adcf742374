"""Home dashboard widgets of the tickets plugin, for the viewer's franchises where the plugin is active."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from flask_babel import lazy_gettext as _l

from core.dashboard import Widget
from core.models.choices import label
from plugins.tickets import choices
from plugins.tickets.reports import metrics
from plugins.tickets.reports.periods import days_utc, last_days, this_month


def _open_tickets(scope) -> dict:
    return {"kind": "figure", "value": metrics.open_tickets(scope), "unit": ""}


def _figure(rate, unit) -> dict:
    return {"kind": "figure", "value": "—" if rate.value is None else rate.value, "unit": str(unit)}


def _sla_this_month(scope) -> dict:
    return _figure(metrics.sla_attainment(scope, *days_utc(*this_month())), "%")


def _complaint_rate_this_month(scope) -> dict:
    return _figure(metrics.complaint_rate(scope, *days_utc(*this_month())), _l("per 10,000 parcels"))


def type_chart_option(rows, days: list[str]) -> dict:
    """A stacked bar chart of (day, type, count) rows: one series per ticket type."""
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for day, kind, count in rows:
        counts[kind][day] = count
    series = [{"type": "bar", "stack": "tickets", "name": label(choices.TYPES, kind),
               "data": [counts[kind].get(day, 0) for day in days]}
              for kind in choices.TYPES if kind in counts]
    return {"tooltip": {"trigger": "axis"}, "legend": {"type": "scroll"},
            "xAxis": {"type": "category", "data": [day[5:] for day in days]},
            "yAxis": {"type": "value", "minInterval": 1}, "series": series}


def _types_last_30_days(scope) -> dict:
    first, last = last_days(30)
    rows = metrics.ticket_counts(scope, *days_utc(first, last), dimension="type", bucket="day")
    if not rows:
        return {"kind": "figure", "value": 0, "unit": str(_l("tickets in the last 30 days"))}
    days = [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]
    return {"kind": "chart", "option": type_chart_option(rows, days)}


WIDGETS = [
    Widget("tickets.open", _l("Open tickets"), _open_tickets, order=20),
    Widget("tickets.sla_month", _l("SLA attainment this month"), _sla_this_month, order=21),
    Widget("tickets.complaint_rate_month", _l("Complaints per 10,000 parcels this month"),
           _complaint_rate_this_month, order=22),
    Widget("tickets.by_type_30d", _l("Tickets by type, last 30 days"), _types_last_30_days, order=60),
]
