"""The SLA scan (every minute, per franchise): warn before a due time, escalate once it has passed.

Set-based: a handful of statements per step whatever the number of open tickets, on PostgreSQL and SQLite
alike. Per-policy settings (warning lead time, escalation rule) are few, so they enter the statements as
CASE expressions on `sla_policy_id` instead of joins (UPDATE ... FROM is not portable).

A ticket races one due time at a time: the first response until answered, then the resolution. It is
warned once (`sla_state` ok -> warned) and escalated once (-> breached) per target; `clock.refresh` puts
the state back to ok when the ticket races a new, later due. Paused tickets are skipped.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import String, and_, case, cast, func, insert, literal, null, or_, select, update

from core import events
from core.clock import utcnow
from core.extensions import db, sql_json_object
from plugins.tickets import choices
from plugins.tickets.models import AgentAlert, Ticket, TicketEvent
from plugins.tickets.routing.models import Team
from plugins.tickets.sla.config import Policy, config_for

# up to this many tickets, later statements of a step name them by id (primary-key lookups); beyond it
# (a backlog on the first run) they repeat the step's condition, which the locked rows keep stable
ID_LIST_LIMIT = 1000
BREACH_EVENT = "ticket.sla_breached"
WARNING_TEXT = {"first_response": _l("SLA warning: the first response is due soon"),
                "resolution": _l("SLA warning: the resolution is due soon")}
BREACH_TEXT = {"first_response": _l("SLA breached: the first response is overdue"),
               "resolution": _l("SLA breached: the resolution is overdue")}


def due_expression():
    """The due time a ticket races now (see clock.current_due), kept by `clock.refresh` in an indexed column:
    none while paused or done."""
    return Ticket.next_due_at


def target_expression():
    return case((Ticket.first_responded_at.is_(None), literal("first_response")), else_=literal("resolution"))


def running(franchise_id: int):
    return and_(Ticket.franchise_id == franchise_id, Ticket.is_open.is_(True), Ticket.sla_paused.is_(False),
                Ticket.sla_policy_id.is_not(None))


def overdue(now: datetime):
    return Ticket.next_due_at < now


def by_policy(policies, value_of, default):
    """CASE sla_policy_id WHEN p THEN value_of(p) ... ELSE default (only policies with a value)."""
    whens = [(Ticket.sla_policy_id == p.id, value_of(p)) for p in policies if value_of(p) is not None]
    return case(*whens, else_=default) if whens else default


def text_by_target(texts: dict):
    return case((Ticket.first_responded_at.is_(None), literal(str(texts["first_response"]))),
                else_=literal(str(texts["resolution"])))


def _locked_ids(condition) -> list[int]:
    # FOR UPDATE on PostgreSQL (ignored by SQLite, whose writer holds the whole database): an agent's
    # change cannot slip between this step's statements
    return list(db.session.scalars(select(Ticket.id).where(condition).order_by(Ticket.id).with_for_update()))


def _selector(ids: list[int], condition):
    return Ticket.id.in_(ids) if len(ids) <= ID_LIST_LIMIT else condition


def _team_lead(team_id_expr):
    return select(Team.lead_id).where(Team.id == team_id_expr).scalar_subquery()


def _execute(statement):
    return db.session.execute(statement, execution_options={"synchronize_session": False})


def warn(franchise_id: int, policies: list[Policy], now: datetime) -> int:
    """Tickets whose due time comes within their policy's warning lead time: one alert to the assignee (or
    the team lead when unassigned), one timeline line, state -> warned."""
    due = due_expression()
    warn_until = by_policy(policies, lambda p: now + timedelta(minutes=p.warn_before_minutes), null())
    condition = and_(running(franchise_id), Ticket.sla_state == "ok", due >= now, due <= warn_until)
    ids = _locked_ids(condition)
    if not ids:
        return 0
    chosen = _selector(ids, condition)
    recipient = func.coalesce(Ticket.assignee_id, _team_lead(Ticket.team_id))
    _execute(insert(AgentAlert).from_select(
        ["franchise_id", "user_id", "ticket_id", "kind", "message", "created_at"],
        select(Ticket.franchise_id, recipient, Ticket.id, literal("sla_warning"), text_by_target(WARNING_TEXT),
               literal(now)).where(chosen, recipient.is_not(None))))
    _execute(insert(TicketEvent).from_select(
        ["franchise_id", "ticket_id", "at", "kind", "internal", "body", "data"],
        select(Ticket.franchise_id, Ticket.id, literal(now), literal("sla"), literal(True),
               text_by_target(WARNING_TEXT), sql_json_object(state=literal("warned"), target=target_expression()))
        .where(chosen)))
    _execute(update(Ticket).where(chosen).values(sla_state="warned"))
    return len(ids)


def raised_priority():
    ranked = sorted(choices.PRIORITY_RANK, key=choices.PRIORITY_RANK.get)
    return case(*[(Ticket.priority == low, literal(high)) for low, high in zip(ranked, ranked[1:])],
                else_=Ticket.priority)


def breach(franchise_id: int, policies: list[Policy], now: datetime) -> list[int]:
    """Tickets past their due time: state -> breached, the breached flag of the target, escalation level +1,
    and per the policy a priority one step up, a move to another team (unassigned, so routing dispatches it
    again), an alert to the lead of the team it ends up in; a timeline line each; ids of the tickets."""
    condition = and_(running(franchise_id), Ticket.sla_state != "breached", overdue(now))
    ids = _locked_ids(condition)
    if not ids:
        return []
    chosen = _selector(ids, condition)
    raising = [p.id for p in policies if p.escalate_raise_priority]
    new_priority = case((Ticket.sla_policy_id.in_(raising), raised_priority()), else_=Ticket.priority) \
        if raising else Ticket.priority
    new_team = by_policy(policies, lambda p: p.escalate_to_team_id, Ticket.team_id)
    moving = [p.id for p in policies if p.escalate_to_team_id is not None]
    moved = and_(Ticket.sla_policy_id.in_(moving), or_(Ticket.team_id.is_(None), Ticket.team_id != new_team))
    new_assignee = case((moved, null()), else_=Ticket.assignee_id) if moving else Ticket.assignee_id
    notifying = [p.id for p in policies if p.notify_lead]
    if notifying:
        lead = _team_lead(new_team)
        _execute(insert(AgentAlert).from_select(
            ["franchise_id", "user_id", "ticket_id", "kind", "message", "created_at"],
            select(Ticket.franchise_id, lead, Ticket.id, literal("sla_breach"), text_by_target(BREACH_TEXT),
                   literal(now)).where(chosen, Ticket.sla_policy_id.in_(notifying), lead.is_not(None))))
    _execute(insert(TicketEvent).from_select(
        ["franchise_id", "ticket_id", "at", "kind", "internal", "body", "data"],
        select(Ticket.franchise_id, Ticket.id, literal(now), literal("escalated"), literal(True),
               text_by_target(BREACH_TEXT),
               sql_json_object(target=target_expression(), level=Ticket.escalation_level + 1,
                           priority_from=Ticket.priority, priority_to=new_priority,
                           team_from=Ticket.team_id, team_to=new_team,
                           assignee_from=Ticket.assignee_id, assignee_to=new_assignee)).where(chosen)))
    answered = Ticket.first_responded_at.is_not(None)
    _execute(update(Ticket).where(chosen).values(
        sla_state="breached",
        first_response_breached=case((answered, Ticket.first_response_breached), else_=True),
        resolution_breached=case((answered, True), else_=Ticket.resolution_breached),
        escalation_level=Ticket.escalation_level + 1,
        priority=new_priority, team_id=new_team, assignee_id=new_assignee, updated_at=now))
    return ids


def announce(franchise_id: int, now: datetime) -> int:
    """`ticket.sla_breached` for each ticket this scan escalated (the breach stamped them `updated_at = now`
    under lock), queued in one INSERT ... SELECT: the first scan over a backlog escalates thousands at once.
    Handlers run after this job commits."""
    escalated = and_(Ticket.franchise_id == franchise_id, Ticket.is_open.is_(True),  # the open-tickets index
                     Ticket.sla_state == "breached", Ticket.updated_at == now)
    # the same breach announced twice carries the same id: handlers can drop the repeat
    event_id = (literal("sla-breach-") + cast(Ticket.id, String) + literal("-")
                + cast(Ticket.escalation_level, String))
    payload = sql_json_object(ticket_id=Ticket.id, escalation_level=Ticket.escalation_level, type=Ticket.type,
                              target=target_expression(), priority=Ticket.priority, team_id=Ticket.team_id,
                              event_id=event_id)
    return events.emit_from_select(BREACH_EVENT, franchise_id, select(payload).where(escalated))


def scan_sla(franchise_id: int, now: datetime | None = None) -> dict[str, int]:
    """Periodic job: escalate overdue tickets, then warn those due soon. Does not commit (the job runner
    does). A second run right after changes nothing."""
    now = now or utcnow()
    policies = config_for(franchise_id).policies
    if not policies:
        return {"breached": 0, "warned": 0}
    breached = breach(franchise_id, policies, now)
    if breached:
        announce(franchise_id, now)
    warned = warn(franchise_id, policies, now)
    return {"breached": len(breached), "warned": warned}
