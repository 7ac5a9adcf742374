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


def level_of_tier(franchise_id: int, tier: str | None) -> dict | None:
    """What `tier` is owed under the policy in force (the franchise's own, else HQ's, else the default)."""
    if tier is None:
        return None
    return {"tier": tier, **levels_of(policy_in_force(franchise_id))[tier]}


def service_level(franchise_id: int, customer_id: int | None) -> dict | None:
    return level_of_tier(franchise_id, tier_of(franchise_id, customer_id))


def sla_policy_for(ticket):
    """The tickets SLA policy the ticket's customer tier names (by name, in the ticket's franchise), or None.

    The policy's class is the one the ticket's own `sla_policy` relationship points to: tiering does not import
    the tickets plugin."""
    # intake has put the tier on the ticket already; a ticket being opened has its customer as an object only
    customer = getattr(ticket, "customer", None)
    tier = ticket.customer_tier or tier_of(ticket.franchise_id, ticket.customer_id or getattr(customer, "id", None))
    level = level_of_tier(ticket.franchise_id, tier)
    if level is None or not level["sla_policy_name"]:
        return None
    relationship = inspect(type(ticket)).relationships.get("sla_policy")
    if relationship is None:
        return None
    policy = relationship.mapper.class_
    return db.session.scalar(select(policy).where(policy.franchise_id == ticket.franchise_id,
                                                  policy.name == level["sla_policy_name"],
                                                  policy.active.is_(True)).limit(1))
