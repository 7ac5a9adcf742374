"""A ticket's SLA clocks, derived from its timeline.

The rule, in one place:
- Both clocks start when the ticket is created and count business time of the calendar (policy's, else the
  team's, else the franchise default, else 24x7), targets multiplied by the factor of a peak season the
  ticket was created in.
- The clocks stop while the ticket waits on the customer (PAUSED_STATUSES) and while it is resolved or
  closed (a reopened ticket continues where it stopped, it is not overdue by the days it was done).
  Each finished stop moves the due times later by the business time it covered; a stop after the first
  response does not move the first-response due.
- While a stop is going on, the due times stay as they were when it began (frozen, never NULL) and
  `sla_paused` is true: the scan neither warns nor escalates a paused ticket, and queues sort paused
  tickets after running ones (`sla_paused`, then the due time). When the stop ends, the due moves later
  by the business time the stop covered.
- Once answered, `first_response_breached` is the comparison of `first_responded_at` with the due;
  once resolved, `resolution_breached` likewise. While a clock runs, the scan sets the flags.
- Complaints carry the regulator's deadline: `created_at` + COMPLAINT_ANSWER_DAYS calendar days.

`compute_clocks()` is the pure part (facts in, due times out); `refresh()` applies it to a ticket in the
caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from core.clock import utcnow
from core.extensions import db
from plugins.tickets import choices
from plugins.tickets.sla.config import Policy, config_for
from plugins.tickets.sla.policy import choose_calendar, choose_policy

STOPPED_STATUSES = frozenset(choices.PAUSED_STATUSES) | frozenset(choices.DONE_STATUSES)


@dataclass(frozen=True)
class StatusChange:
    at: datetime
    to: str
    before: str | None = None


@dataclass(frozen=True)
class Clocks:
    first_response_due: datetime | None
    resolution_due: datetime | None
    paused: bool
    regulatory_due: datetime | None


def stops(created_at: datetime, initial_status: str,
          changes) -> tuple[list[tuple[datetime, datetime]], datetime | None]:
    """The finished stops [(start, end)] in time order, and the start of the stop going on now (or None)."""
    finished, stopped_since = [], created_at if initial_status in STOPPED_STATUSES else None
    for change in sorted(changes, key=lambda c: c.at):
        stopped = change.to in STOPPED_STATUSES
        if stopped and stopped_since is None:
            stopped_since = max(change.at, created_at)
        elif not stopped and stopped_since is not None:
            if change.at > stopped_since:
                finished.append((stopped_since, change.at))
            stopped_since = None
    return finished, stopped_since


def due_after(calendar, start: datetime, seconds: float, finished_stops) -> datetime:
    """`seconds` of business time after `start`, skipping the stops (sorted, not overlapping)."""
    cursor, remaining = start, seconds
    for stop_start, stop_end in finished_stops:
        if stop_end <= cursor:
            continue
        if stop_start > cursor:
            candidate = calendar.add_seconds(cursor, remaining)
            if candidate <= stop_start:
                return candidate
            remaining -= calendar.seconds_between(cursor, stop_start)
        cursor = stop_end
    return calendar.add_seconds(cursor, remaining)


def compute_clocks(*, created_at: datetime, ticket_type: str, initial_status: str, changes,
                   first_responded_at: datetime | None, policy: Policy | None, calendar,
                   peak_factor: Decimal | float = 1) -> Clocks:
    """The due times of a ticket from its facts, its status changes, its policy and calendar (pure)."""
    regulatory = created_at + timedelta(days=choices.COMPLAINT_ANSWER_DAYS) if ticket_type == "complaint" else None
    finished, stopped_since = stops(created_at, initial_status, changes)
    paused = stopped_since is not None
    if policy is None:
        return Clocks(None, None, paused, regulatory)
    factor = float(peak_factor or 1)
    before_response = [s for s in finished if first_responded_at is None or s[0] < first_responded_at]
    first_due = due_after(calendar, created_at, policy.first_response_minutes * 60 * factor, before_response)
    resolution_due = due_after(calendar, created_at, policy.resolution_minutes * 60 * factor, finished)
    return Clocks(first_due, resolution_due, paused, regulatory)


def timeline_of(ticket, events) -> tuple[datetime, str, list[StatusChange]]:
    """Creation moment, status at creation, and the status changes, from timeline rows (saved or pending)."""
    created_at = ticket.created_at
    changes = []
    for event in events:
        if event.kind == "created" and created_at is None:
            created_at = event.at
        elif event.kind == "status" and isinstance(event.data, dict) and event.data.get("to"):
            changes.append(StatusChange(event.at or utcnow(), event.data["to"], event.data.get("from")))
    changes.sort(key=lambda c: c.at)
    initial = changes[0].before if changes and changes[0].before else ticket.status
    return created_at or utcnow(), initial, changes


def current_due(ticket) -> datetime | None:
    """The due time the ticket races now: the first response until answered, then the resolution."""
    return ticket.first_response_due if ticket.first_responded_at is None else ticket.resolution_due


def apply_clocks(ticket, clocks: Clocks, policy: Policy | None, now: datetime) -> None:
    ticket.sla_policy_id = policy.id if policy else None
    ticket.first_response_due = clocks.first_response_due
    ticket.resolution_due = clocks.resolution_due
    ticket.regulatory_due = clocks.regulatory_due
    ticket.sla_paused = ticket.status in choices.PAUSED_STATUSES
    running = ticket.status in choices.OPEN_STATUSES and not ticket.sla_paused
    ticket.next_due_at = current_due(ticket) if running else None
    if ticket.first_responded_at is not None and clocks.first_response_due is not None:
        ticket.first_response_breached = ticket.first_responded_at > clocks.first_response_due
    if ticket.resolved_at is not None and ticket.status in choices.DONE_STATUSES and clocks.resolution_due:
        ticket.resolution_breached = ticket.resolved_at > clocks.resolution_due
    if ticket.status not in choices.OPEN_STATUSES:
        return
    due = current_due(ticket)
    warn = timedelta(minutes=policy.warn_before_minutes if policy else 0)
    if due is None or due > now + warn:
        ticket.sla_state = "ok"  # a later due (a stop ended, a new policy, the next target): warn afresh
    elif due > now and ticket.sla_state == "breached":
        ticket.sla_state = "ok"  # the breached target is behind us; the scan warns for this one
    # a due already past keeps its state: the scan escalates it once


def refresh(ticket, now: datetime | None = None) -> None:
    """(Re)choose the ticket's policy and recompute its due times from its timeline. No commit, no flush;
    `ticket.events` includes the lines added in this transaction."""
    now = now or utcnow()
    # intake may call this before the ticket is complete: reading the configuration must not flush it
    with db.session.no_autoflush:
        config = config_for(ticket.franchise_id)
        policy = choose_policy(ticket, config)
        calendar = choose_calendar(ticket, policy, config)
        created_at, initial, changes = timeline_of(ticket, ticket.events)
    if ticket.created_at is None:
        ticket.created_at = created_at
    clocks = compute_clocks(created_at=created_at, ticket_type=ticket.type, initial_status=initial,
                            changes=changes, first_responded_at=ticket.first_responded_at, policy=policy,
                            calendar=calendar, peak_factor=config.peak_factor(created_at))
    apply_clocks(ticket, clocks, policy, now)
