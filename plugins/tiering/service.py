"""What other plugins ask tiering: a customer's tier and what that tier is owed (its service level), and the
SLA policy tickets should use for it."""

from __future__ import annotations

from sqlalchemy import inspect, select

from core.extensions import db
from plugins.tiering.models import CustomerValue
from plugins.tiering.policy import levels_of, policy_in_force


def tier_of(franchise_id: int, customer_id: int | None) -> str | None:
    if customer_id is None:
        return None
    return db.session.scalar(select(CustomerValue.tier).where(CustomerValue.customer_id == customer_id,
                                                              CustomerValue.franchise_id == franchise_id))


def service_level(franchise_id: int, customer_id: int | None) -> dict | None:
    tier = tier_of(franchise_id, customer_id)
    if tier is None:
        return None
    return {"tier": tier, **levels_of(policy_in_force(franchise_id))[tier]}


def sla_policy_for(ticket):
    """The tickets SLA policy the ticket's customer tier names (by name, in the ticket's franchise), or None.

    The policy's class is the one the ticket's own `sla_policy` relationship points to: tiering does not import
    the tickets plugin."""
    # a ticket being opened has its customer as an object, not yet as an id
    customer = getattr(ticket, "customer", None)
    level = service_level(ticket.franchise_id, ticket.customer_id or getattr(customer, "id", None))
    if level is None or not level["sla_policy_name"]:
        return None
    relationship = inspect(type(ticket)).relationships.get("sla_policy")
    if relationship is None:
        return None
    policy = relationship.mapper.class_
    return db.session.scalar(select(policy).where(policy.franchise_id == ticket.franchise_id,
                                                  policy.name == level["sla_policy_name"],
                                                  policy.active.is_(True)).limit(1))
