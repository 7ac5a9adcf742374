"""Which SLA policy and which calendar apply to a ticket.

A plugin may decide first (`crm_ticket_sla_policy`, e.g. the tiering plugin by the customer's service
level); otherwise the franchise's active policies are read by position and the first whose conditions all
match wins (an empty condition matches anything). The calendar is the policy's, else the ticket's team's,
else the franchise's default, else the clock runs 24x7.
"""

from __future__ import annotations

from core.extensions import db
from core.plugins import registry
from plugins.tickets.routing.models import Team
from plugins.tickets.sla.config import Policy, SlaConfig


def policy_from_hook(ticket, config: SlaConfig) -> Policy | None:
    caller = registry().hook_for_franchise("crm_ticket_sla_policy", ticket.franchise_id)
    chosen = caller(ticket=ticket)
    if chosen is None:
        return None
    if getattr(chosen, "franchise_id", ticket.franchise_id) != ticket.franchise_id:
        return None  # another franchise's policy would leak its rules (and escalate into its teams)
    return config.policy(getattr(chosen, "id", None)) or Policy.of(chosen)


def choose_policy(ticket, config: SlaConfig) -> Policy | None:
    """The policy for `ticket` (None: no SLA targets apply)."""
    return policy_from_hook(ticket, config) or config.matching_policy(
        ticket.type, ticket.priority, ticket.customer_tier, ticket.channel)


def team_calendar_id(ticket, team_calendars: dict | None = None) -> int | None:
    if ticket.team_id is None:
        return None
    if team_calendars is not None:
        return team_calendars.get(ticket.team_id)
    # a pending ticket does not load its team through the relationship: ask the session (identity map first)
    team = ticket.team if ticket.team is not None else db.session.get(Team, ticket.team_id)
    return team.calendar_id if team is not None else None


def choose_calendar(ticket, policy: Policy | None, config: SlaConfig, team_calendars: dict | None = None):
    return config.calendar(policy.calendar_id if policy else None, team_calendar_id(ticket, team_calendars))
