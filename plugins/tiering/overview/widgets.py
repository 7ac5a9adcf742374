"""Home dashboard widget: how the viewer's customers split into tiers A/B/C."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from core.dashboard import Widget
from plugins.tiering.overview import charts, figures


def _tier_distribution(scope) -> dict:
    totals = figures.totals(figures.tier_counts(scope))
    if not any(totals.values()):
        return {"kind": "figure", "value": 0, "unit": str(_l("customers with a tier yet"))}
    return {"kind": "chart", "option": charts.tier_pie(totals)}


WIDGETS = [Widget("tiering.distribution", _l("Customers by tier"), _tier_distribution, order=30)]
