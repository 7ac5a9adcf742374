"""What tiering holds about a customer, for the data-subject export (PIPL art. 45), and forgetting it on erase
(art. 47): the tier, scores, rule tags and tier history are a profile of the person, not statistics to keep."""

from __future__ import annotations

from sqlalchemy import delete, select

from core.extensions import db
from plugins.tiering.models import CustomerTag, CustomerValue, TierHistory


def customer_data(customer) -> dict:
    value = db.session.get(CustomerValue, customer.id)
    tags = db.session.scalars(select(CustomerTag.tag).where(CustomerTag.customer_id == customer.id)
                              .order_by(CustomerTag.tag)).all()
    history = db.session.scalars(select(TierHistory).where(TierHistory.customer_id == customer.id)
                                 .order_by(TierHistory.changed_at)).all()
    profile = [] if value is None else [{
        "tier": value.tier, "tier_since": value.tier_since.isoformat() if value.tier_since else None,
        "r_score": value.r_score, "f_score": value.f_score, "m_score": value.m_score,
        "rfm_segment": value.rfm_segment, "monthly_volume": str(value.monthly_volume),
        "monthly_revenue": str(value.monthly_revenue), "rule_tags": list(tags)}]
    return {"customer_value": profile,
            "tier_history": [{"from": h.from_tier, "to": h.to_tier, "changed_at": h.changed_at.isoformat(),
                              "measure": h.measure, "method": h.method,
                              "value": str(h.value) if h.value is not None else None} for h in history]}


def erase_customer(customer) -> None:
    """Called inside the erase's transaction; the recompute leaves erased customers out from then on."""
    for model in (CustomerTag, TierHistory, CustomerValue):
        db.session.execute(delete(model).where(model.customer_id == customer.id)
                           .execution_options(synchronize_session=False))
