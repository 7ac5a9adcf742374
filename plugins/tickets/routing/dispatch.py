"""Dispatch: the first active rule of the ticket's franchise whose conditions match sends a new ticket to a
team, which then assigns it by its method. No rule matches: the ticket waits in the franchise's pool.

Ticket creation must stay cheap (hundreds per second), so each process keeps the rules of a franchise as
plain tuples for `CRM_TICKET_RULES_TTL` seconds. A rule or team changed in this process clears that
franchise's entry when the change commits; other processes see it within the TTL.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from flask import current_app, has_app_context
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from core.extensions import db
from plugins.tickets import workflow
from plugins.tickets.routing.assign import assign_in_team, set_team
from plugins.tickets.routing.models import DispatchRule, Team

CACHE_KEY = "tk_dispatch_rules"
DEFAULT_TTL = 30.0


def _values(items):
    """A condition list as a set; empty or missing means "any" (None)."""
    items = [str(v) for v in items or [] if v is not None and str(v) != ""]
    return frozenset(items) or None


@dataclass(frozen=True)
class Rule:
    id: int
    name: str
    team_id: int
    set_priority: str | None
    types: frozenset | None
    categories: frozenset | None
    priorities: frozenset | None
    channels: frozenset | None
    tiers: frozenset | None
    district_prefixes: tuple | None

    @classmethod
    def of(cls, row: DispatchRule) -> "Rule":
        prefixes = _values(row.district_prefixes)
        return cls(row.id, row.name, row.team_id, row.set_priority or None, _values(row.types),
                   _values(row.categories), _values(row.priorities), _values(row.channels), _values(row.tiers),
                   tuple(sorted(prefixes)) if prefixes else None)

    def matches(self, ticket) -> bool:
        for allowed, value in ((self.types, ticket.type), (self.categories, ticket.category),
                               (self.priorities, ticket.priority), (self.channels, ticket.channel),
                               (self.tiers, ticket.customer_tier)):
            if allowed is not None and value not in allowed:
                return False
        if self.district_prefixes is not None:
            code = ticket.district_code or ""
            return any(code.startswith(prefix) for prefix in self.district_prefixes)
        return True


def _cache() -> dict:
    return current_app.extensions.setdefault(CACHE_KEY, {})


def load_rules(franchise_id: int) -> tuple[Rule, ...]:
    """The franchise's active rules to active teams, lowest position first (from the database)."""
    rows = db.session.scalars(
        select(DispatchRule).join(Team, Team.id == DispatchRule.team_id)
        .where(DispatchRule.franchise_id == franchise_id, DispatchRule.active.is_(True), Team.active.is_(True),
               Team.franchise_id == franchise_id)
        .order_by(DispatchRule.position, DispatchRule.id)).all()
    return tuple(Rule.of(row) for row in rows)


def rules_for(franchise_id: int) -> tuple[Rule, ...]:
    """The franchise's rules, from this process's cache while fresh."""
    cache = _cache()
    now = time.monotonic()
    entry = cache.get(franchise_id)
    if entry is not None and entry[0] > now:
        return entry[1]
    rules = load_rules(franchise_id)
    ttl = float(current_app.config.get("CRM_TICKET_RULES_TTL", DEFAULT_TTL))
    cache[franchise_id] = (now + ttl, rules)
    return rules


def forget_rules(franchise_id: int | None = None) -> None:
    """Drop the cached rules of one franchise (or all): the next ticket reads them again."""
    if not has_app_context():
        return
    if franchise_id is None:
        _cache().clear()
    else:
        _cache().pop(franchise_id, None)


def matching_rule(ticket) -> Rule | None:
    return next((rule for rule in rules_for(ticket.franchise_id) if rule.matches(ticket)), None)


def _locked_team(team_id: int) -> Team | None:
    """The team, its row locked for the assignment that follows (one query for both)."""
    return db.session.scalar(select(Team).where(Team.id == team_id).with_for_update())


def _rule_and_team(ticket):
    rule = matching_rule(ticket)
    team = _locked_team(rule.team_id) if rule is not None else None
    if rule is not None and (team is None or not team.active):
        # the team went away since another process filled the cache: read the rules again, once
        forget_rules(ticket.franchise_id)
        rule = matching_rule(ticket)
        team = _locked_team(rule.team_id) if rule is not None else None
        if team is None or not team.active:
            return None, None
    return rule, team


def route(ticket, user=None) -> Rule | None:
    """Send a new (flushed) ticket to the team of the first matching rule and assign it there.

    Returns the rule, or None when no rule matches (the ticket stays unrouted, in the franchise's pool). A
    ticket that arrives with a team already chosen (by the person taking it) skips the rules and is only
    assigned inside that team.
    """
    if ticket.team_id is not None:
        assign_in_team(ticket, user)
        return None
    rule, team = _rule_and_team(ticket)
    if rule is None:
        return None
    set_team(ticket, team)
    workflow.record(ticket, "team", user, data={"from": None, "to": team.id, "rule": rule.name})
    if rule.set_priority:
        workflow.set_priority(ticket, rule.set_priority, user, reason=rule.name)
    assign_in_team(ticket, user, locked=True)
    return rule


# --- invalidation: a rule or team changed in this process clears its franchise when the change commits -------

@event.listens_for(Session, "before_flush")
def _note_rule_changes(session, flush_context, instances):
    changed = None
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, (DispatchRule, Team)):
            changed = session.info.setdefault("tk_rules_changed", set()) if changed is None else changed
            changed.add(obj.franchise_id)
            changed.add(_stored_franchise(obj))


def _stored_franchise(obj):
    # a rule moved to another franchise leaves the old franchise's cache stale too
    history = db.inspect(obj).attrs.franchise_id.history
    return (history.deleted or [obj.franchise_id])[0]


@event.listens_for(Session, "after_commit")
def _forget_after_commit(session):
    changed = session.info.pop("tk_rules_changed", None)
    if changed and has_app_context():
        for franchise_id in changed:
            if franchise_id is not None:
                forget_rules(franchise_id)


@event.listens_for(Session, "after_rollback")
def _nothing_changed(session):
    session.info.pop("tk_rules_changed", None)
