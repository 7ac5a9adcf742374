"""Figures per customer that other plugins may use in rules (`crm_customer_metrics`): how often a customer
complains, and how often about charges (a sign of price sensitivity), over the last 90 days."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from core.customer_metrics import CustomerMetric
from plugins.tickets.models import Ticket


def _complaints(category: str | None = None):
    def query(franchise_id: int, since):
        conditions = [Ticket.franchise_id == franchise_id, Ticket.customer_id.is_not(None),
                      Ticket.type == "complaint", Ticket.created_at >= since]
        if category is not None:
            conditions.append(Ticket.category == category)
        return select(Ticket.customer_id, func.count()).where(*conditions).group_by(Ticket.customer_id)

    return query


CUSTOMER_METRICS = [
    CustomerMetric("complaints_90d", _l("Complaints in the last 90 days"), _complaints(), window_days=90),
    CustomerMetric("charge_complaints_90d", _l("Complaints about charges in the last 90 days"),
                   _complaints("charges"), window_days=90),
]
