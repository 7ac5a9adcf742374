"""After a ticket: callbacks (回访) created by rule when it closes, the reopen window, the hourly auto-close
of resolved tickets nobody answered, and the attempts an agent records on a callback.

Callbacks are made by one INSERT ... SELECT per matching rule (rules are few, tickets many), for one closed
ticket or for a whole auto-close batch alike; the (ticket, rule) key makes them once only.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, Boolean, DateTime, Integer, String, and_, exists, insert, literal, or_, select, update

from core.clock import utcnow
from core.events import emit
from core.extensions import db
from plugins.tickets import choices, settings
from plugins.tickets.followup.models import CALLBACK_OUTCOMES, CallbackRule, CallbackTask
from plugins.tickets.models import AgentAlert, Ticket, TicketEvent
from plugins.tickets.workflow import TicketError, record

# outcomes that end a callback; "no answer" is tried again up to MAX_ATTEMPTS times
DONE_OUTCOMES = ("satisfied", "neutral", "dissatisfied", "refused")
FAILED_OUTCOMES = ("wrong_number",)
MAX_ATTEMPTS = 3
RETRY_AFTER = timedelta(hours=2)
RULE_LISTS = (("types", Ticket.type), ("categories", Ticket.category), ("priorities", Ticket.priority),
              ("resolution_codes", Ticket.resolution_code))


# --- callbacks by rule ------------------------------------------------------------------------------------


def _rule_condition(rule: CallbackRule):
    """The rule's lists as a WHERE on tickets (an empty list matches any)."""
    conditions = [Ticket.franchise_id == rule.franchise_id]
    for attribute, column in RULE_LISTS:
        values = getattr(rule, attribute) or []
        if values:
            conditions.append(column.in_(list(values)))
    return and_(*conditions)


def create_callbacks(franchise_id: int, tickets_condition, closed_at: datetime) -> int:
    """Callback tasks for the closed tickets matching `tickets_condition`, by every active rule of the
    franchise; tickets that have one of a rule already get none again. Returns how many were made."""
    rules = db.session.scalars(select(CallbackRule).where(CallbackRule.franchise_id == franchise_id,
                                                          CallbackRule.active.is_(True))
                               .order_by(CallbackRule.id)).all()
    made = 0
    now = utcnow()
    table = CallbackTask.__table__
    for rule in rules:
        already = exists().where(CallbackTask.ticket_id == Ticket.id, CallbackTask.rule_id == rule.id)
        rows = select(Ticket.franchise_id, Ticket.id, literal(rule.id, Integer), Ticket.customer_id,
                      Ticket.assignee_id, literal(closed_at + timedelta(hours=rule.delay_hours or 0), DateTime),
                      literal("open", String), literal(0, Integer), literal(now, DateTime)) \
            .where(tickets_condition, _rule_condition(rule), ~already)
        # counted by RETURNING: the driver's rowcount of an INSERT ... SELECT is not reliable everywhere
        made += len(db.session.execute(insert(table).from_select(
            ["franchise_id", "ticket_id", "rule_id", "customer_id", "assignee_id", "due_at", "status", "attempts",
             "created_at"], rows).returning(table.c.id)).all())
    return made


def on_closed(ticket: Ticket) -> int:
    """Called by `workflow.change_status` inside the closing transaction: the callbacks the rules ask for."""
    db.session.flush()  # the INSERT ... SELECT reads the ticket as it is now
    return create_callbacks(ticket.franchise_id, Ticket.id == ticket.id, ticket.closed_at or utcnow())


# --- reopen window and auto-close -------------------------------------------------------------------------


def reopen_window_open(ticket: Ticket, at: datetime) -> bool:
    """Whether a customer's reply at `at` reopens the finished ticket (`reopen_window_days` after resolving;
    0 = never)."""
    if ticket.status not in choices.DONE_STATUSES or ticket.resolved_at is None:
        return False
    days = int(settings.current(ticket.franchise_id).get("reopen_window_days") or 0)
    return days > 0 and at <= ticket.resolved_at + timedelta(days=days)


def auto_close(franchise_id: int) -> int:
    """Close the franchise's tickets resolved more than `auto_close_days` ago without a customer reply since:
    one UPDATE, one INSERT of their timeline lines, the callbacks, and a `ticket.closed` event each."""
    days = int(settings.current(franchise_id).get("auto_close_days") or 0)
    if days <= 0:
        return 0
    now = utcnow()
    due = and_(Ticket.franchise_id == franchise_id, Ticket.status == "resolved",
               Ticket.resolved_at < now - timedelta(days=days), Ticket.resolution_code.is_not(None),
               or_(Ticket.last_customer_reply_at.is_(None), Ticket.last_customer_reply_at <= Ticket.resolved_at))
    closed = db.session.execute(
        update(Ticket).where(due)
        .values(status="closed", closed_at=now, is_open=False, sla_paused=False, updated_at=now)
        .returning(Ticket.id, Ticket.type, Ticket.category, Ticket.customer_id, Ticket.shipment_id,
                   Ticket.waybill_no, Ticket.channel, Ticket.resolution_code, Ticket.team_id, Ticket.assignee_id)
        .execution_options(synchronize_session=False)).all()
    if not closed:
        return 0
    # the batch is the franchise's tickets closed at this very instant
    batch = and_(Ticket.franchise_id == franchise_id, Ticket.status == "closed", Ticket.closed_at == now)
    line = select(Ticket.id, Ticket.franchise_id, literal(now, DateTime), literal("status", String),
                  literal(True, Boolean),
                  literal(_("Closed automatically: no reply from the customer for %(days)d days", days=days), String),
                  literal({"from": "resolved", "to": "closed", "auto": True}, JSON)).where(batch)
    db.session.execute(insert(TicketEvent.__table__).from_select(
        ["ticket_id", "franchise_id", "at", "kind", "internal", "body", "data"], line))
    create_callbacks(franchise_id, batch, now)
    for row in closed:
        emit("ticket.closed", franchise_id, {
            "ticket_id": row.id, "type": row.type, "category": row.category, "customer_id": row.customer_id,
            "shipment_id": row.shipment_id, "waybill_no": row.waybill_no, "channel": row.channel,
            "resolution_code": row.resolution_code, "team_id": row.team_id, "assignee_id": row.assignee_id,
            "auto_closed": True})
    return len(closed)


# --- attempts ---------------------------------------------------------------------------------------------


def _valid_url(url: str | None) -> str | None:
    url = (url or "").strip()
    if not url:
        return None
    if len(url) > 500 or not url.lower().startswith(("http://", "https://")):
        raise TicketError("call_record_url", _l("an http:// or https:// address of at most 500 characters"))
    return url


def record_attempt(task: CallbackTask, outcome: str, note: str | None, user,
                   call_record_url: str | None = None) -> None:
    """One call to the customer: a final outcome ends the callback; no answer three times fails it. A
    dissatisfied customer goes on the ticket's timeline and alerts the team lead."""
    if task.status != "open":
        raise TicketError("status", _l("this callback is finished"))
    if outcome not in CALLBACK_OUTCOMES:
        raise TicketError("outcome", _l("not one of: %(values)s", values=", ".join(CALLBACK_OUTCOMES)))
    url = _valid_url(call_record_url)
    now = utcnow()
    task.attempts = (task.attempts or 0) + 1
    task.outcome = outcome
    task.note = (note or "").strip() or task.note
    task.call_record_url = url or task.call_record_url
    if outcome in DONE_OUTCOMES:
        task.status, task.done_at = "done", now
    elif outcome in FAILED_OUTCOMES or task.attempts >= MAX_ATTEMPTS:
        task.status, task.done_at = "failed", now
    else:
        task.due_at = max(task.due_at, now + RETRY_AFTER)  # try again later; the list is in due order
    ticket = task.ticket
    label = str(CALLBACK_OUTCOMES[outcome])
    body = _("Callback attempt %(n)d: %(outcome)s", n=task.attempts, outcome=label)
    if task.note and (note or "").strip():
        body += "\n" + task.note
    record(ticket, "callback", user, body=body,
           data={"callback_id": task.id, "outcome": outcome, "attempt": task.attempts, "status": task.status})
    if outcome == "dissatisfied":
        _alert_team_lead(ticket, task)


def _alert_team_lead(ticket: Ticket, task: CallbackTask) -> None:
    lead_id = ticket.team.lead_id if ticket.team is not None else None
    if lead_id is None:
        return
    db.session.add(AgentAlert(user_id=lead_id, ticket=ticket, franchise_id=ticket.franchise_id, kind="dissatisfied",
                              message=_("Dissatisfied customer on the callback of %(ticket)s",
                                        ticket=ticket.number)[:255], created_at=utcnow()))
