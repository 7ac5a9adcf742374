"""Storing pushed tracking events: dedupe, match to shipments, status, exceptions and the inbox.

Set-based on purpose (a push is on the hot path: ~1,000 a second): one query finds the shipments of every
waybill in the batch together with the events they already have from this provider, then new events go in
with one multi-row INSERT, the statuses with one UPDATE per shipment, exceptions with one INSERT ... ON
CONFLICT DO NOTHING whose RETURNING rows are the ones to announce. Events already stored are filtered before
the INSERT (not only by ON CONFLICT), so a resent trace does not burn the id sequence either.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import and_, bindparam, case, or_, select, update

from core.clock import utcnow
from core.events import emit
from core.extensions import db, dialect_insert
from core.models import Shipment, TrackingEvent
from core.models.statuses import EXCEPTION_STATUSES
from plugins.integrations.inbound.models import ShipmentException, UnmatchedEvent
from plugins.integrations.inbound.pushes import PushEvent

SHIPMENTS = Shipment.__table__
EVENTS = TrackingEvent.__table__
EXCEPTIONS = ShipmentException.__table__
UNMATCHED = UnmatchedEvent.__table__
CHUNK = 1000
# pushes arrive by the thousand a second: their domain events go out with `crm cron`'s next relay round
# (a few seconds) rather than with a relay of their own after each push's commit
BATCHED = True
# exceptions a later delivery settles by itself: not worth raising once the parcel is delivered
SELF_SETTLING = frozenset({"FAILED_ATTEMPT", "DELAYED", "LOCKER_OVERDUE"})


@dataclass
class Known:
    """A shipment the batch refers to, with the keys of the events it already has from this provider."""

    id: int
    franchise_id: int
    carrier: str
    waybill_no: str
    status: str
    status_at: dt.datetime | None
    keys: set = field(default_factory=set)


@dataclass
class Plan:
    franchise_id: int
    provider: str
    new: list = field(default_factory=list)          # (Known, PushEvent)
    duplicate: int = 0
    unmatched: list = field(default_factory=list)    # PushEvent
    foreign: list = field(default_factory=list)      # waybills of another franchise
    waybills: list = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.new) + self.duplicate + len(self.unmatched)

    @property
    def outcome(self) -> str:
        if self.new:
            return "accepted"
        return "unmatched" if self.unmatched else "duplicate"

    def summary(self) -> dict:
        return {"accepted": len(self.new), "duplicates": self.duplicate, "unmatched": len(self.unmatched)}


class _Statements:
    """The hot path's statements, built once per database dialect: building them costs more than running."""

    def __init__(self):
        self.find = (
            select(SHIPMENTS.c.id, SHIPMENTS.c.franchise_id, SHIPMENTS.c.carrier, SHIPMENTS.c.waybill_no,
                   SHIPMENTS.c.status, SHIPMENTS.c.status_at, EVENTS.c.occurred_at, EVENTS.c.raw_code)
            .select_from(SHIPMENTS.outerjoin(EVENTS, and_(EVENTS.c.shipment_id == SHIPMENTS.c.id,
                                                         EVENTS.c.provider == bindparam("provider"))))
            .where(SHIPMENTS.c.waybill_no.in_(bindparam("waybills", expanding=True))))
        self.insert_events = (dialect_insert(EVENTS).on_conflict_do_nothing(
            index_elements=["shipment_id", "provider", "occurred_at", "raw_code"])
            .returning(EVENTS.c.shipment_id, EVENTS.c.occurred_at, EVENTS.c.raw_code))
        self.update_status = (
            update(SHIPMENTS)
            .where(SHIPMENTS.c.id == bindparam("sid"),
                   or_(SHIPMENTS.c.status_at.is_(None), SHIPMENTS.c.status_at <= bindparam("at")))
            .values(status=bindparam("st"), status_at=bindparam("at"),
                    delivered_at=case((and_(bindparam("st") == "DELIVERED", SHIPMENTS.c.delivered_at.is_(None)),
                                       bindparam("at")), else_=SHIPMENTS.c.delivered_at)))
        self.insert_exceptions = (dialect_insert(EXCEPTIONS).on_conflict_do_nothing(index_elements=["shipment_id", "kind"])
                                  .returning(EXCEPTIONS.c.shipment_id, EXCEPTIONS.c.kind))
        self.insert_unmatched = dialect_insert(UNMATCHED).on_conflict_do_nothing(
            index_elements=["franchise_id", "provider", "waybill_no", "occurred_at", "raw_code"])


_statements: dict[str, _Statements] = {}


def statements() -> _Statements:
    name = db.engine.dialect.name
    if name not in _statements:
        _statements[name] = _Statements()
    return _statements[name]


def _chunks(items, size=CHUNK):
    items = list(items)
    for start in range(0, len(items), size):
        yield items[start:start + size]


def find_shipments(provider: str, waybills, carriers: dict[str, str | None]) -> dict[str, list[Known]]:
    """Shipments per waybill (any franchise), each with its known event keys from `provider`."""
    found: dict[int, Known] = {}
    for chunk in _chunks(sorted(waybills)):
        rows = db.session.execute(statements().find, {"provider": provider, "waybills": chunk})
        for row in rows:
            known = found.get(row.id)
            if known is None:
                known = found[row.id] = Known(row.id, row.franchise_id, row.carrier, row.waybill_no, row.status,
                                              row.status_at)
            if row.occurred_at is not None:
                known.keys.add((row.occurred_at, row.raw_code))
    by_waybill: dict[str, list[Known]] = {}
    for known in found.values():
        by_waybill.setdefault(known.waybill_no, []).append(known)
    # one waybill number under several carriers: the push's carrier decides, when it names one we have
    for waybill, candidates in by_waybill.items():
        hint = (carriers.get(waybill) or "").upper()
        if len(candidates) > 1 and hint:
            by_waybill[waybill] = [k for k in candidates if k.carrier.upper() == hint] or candidates
    return by_waybill


def plan(franchise_id: int, provider: str, events: list[PushEvent]) -> Plan:
    """Sort the batch into new, duplicate, unmatched and foreign events; writes nothing."""
    result = Plan(franchise_id, provider)
    carriers = {e.waybill_no: e.carrier for e in events}
    result.waybills = list(dict.fromkeys(e.waybill_no for e in events))
    shipments = find_shipments(provider, result.waybills, carriers)
    seen = set()
    for event in events:
        candidates = shipments.get(event.waybill_no) or []
        own = [k for k in candidates if k.franchise_id == franchise_id]
        if not own:
            if candidates:
                result.foreign.append(event.waybill_no)
            else:
                result.unmatched.append(event)
            continue
        known = own[0]
        key = (event.occurred_at, event.raw_code)
        if key in known.keys or (known.id, key) in seen:
            result.duplicate += 1
            continue
        seen.add((known.id, key))
        result.new.append((known, event))
    result.foreign = list(dict.fromkeys(result.foreign))
    return result


def apply(result: Plan, payload_id: int | None, source: str = "push", now: dt.datetime | None = None) -> int:
    """Write a plan's events in the caller's transaction; returns how many events were stored."""
    now = now or utcnow()
    inserted = _insert_events(result, source, now)
    _store_unmatched(result, payload_id, now)
    if inserted:
        settled = _update_statuses(result, inserted)
        raise_for_events(result.franchise_id, result.provider, [
            (k.id, k.waybill_no, e.status, e.occurred_at, e.raw_text) for k, e in inserted], settled, now)
    return len(inserted)


def _insert_events(result: Plan, source: str, now) -> list[tuple[Known, PushEvent]]:
    if not result.new:
        return []
    statement = statements().insert_events
    stored = set()
    for chunk in _chunks(result.new):
        rows = [{"franchise_id": result.franchise_id, "shipment_id": known.id, "occurred_at": e.occurred_at,
                 "status": e.status, "provider": result.provider, "raw_code": e.raw_code, "raw_text": e.raw_text,
                 "location": e.location, "source": source, "received_at": now} for known, e in chunk]
        stored.update(tuple(row) for row in db.session.execute(statement, rows))
    # a concurrent push may have stored some of them first: only ours count
    return [(k, e) for k, e in result.new if (k.id, e.occurred_at, e.raw_code) in stored]


def _update_statuses(result: Plan, inserted) -> set[int]:
    """The shipment's status follows its newest event; returns ids of shipments now delivered."""
    newest: dict[int, tuple[Known, PushEvent]] = {}
    for known, event in inserted:
        current = newest.get(known.id)
        if current is None or event.occurred_at >= current[1].occurred_at:
            newest[known.id] = (known, event)
    changes = [(k, e) for k, e in newest.values() if k.status_at is None or e.occurred_at >= k.status_at]
    if changes:
        db.session.execute(statements().update_status,
                           [{"sid": k.id, "st": e.status, "at": e.occurred_at} for k, e in changes])
    for known, event in changes:
        if event.status == "DELIVERED" and known.status != "DELIVERED":
            emit("shipment.delivered", result.franchise_id, {
                "shipment_id": known.id, "waybill_no": known.waybill_no,
                "delivered_at": event.occurred_at.isoformat()}, batched=BATCHED)
        known.status, known.status_at = event.status, event.occurred_at
    return {k.id for k, _ in newest.values() if k.status == "DELIVERED"}


def raise_for_events(franchise_id: int, provider: str, items, delivered: set[int], now) -> None:
    """`shipment.exception` once per (shipment, exception kind), for newly stored exception events.

    `items` are (shipment id, waybill, status, occurred at, text); `delivered` the shipments delivered by now.
    """
    first: dict[tuple[int, str], tuple] = {}
    for item in items:
        shipment_id, _, status, occurred_at, _ = item
        if status not in EXCEPTION_STATUSES or (status in SELF_SETTLING and shipment_id in delivered):
            continue
        key = (shipment_id, status)
        if key not in first or occurred_at < first[key][3]:
            first[key] = item
    if first:
        raise_exceptions(franchise_id, [
            {"shipment_id": shipment_id, "kind": status, "occurred_at": occurred_at, "waybill_no": waybill,
             "detail": (detail or "")[:255] or None}
            for shipment_id, waybill, status, occurred_at, detail in first.values()],
            source="event", provider=provider, now=now, batched=BATCHED)


def raise_exceptions(franchise_id: int, rows: list[dict], source: str, provider: str | None = None,
                     now: dt.datetime | None = None, batched: bool = False) -> int:
    """Record exception kinds and announce the ones not raised before; returns how many were new."""
    now = now or utcnow()
    statement = statements().insert_exceptions
    by_key = {(r["shipment_id"], r["kind"]): r for r in rows}
    raised = 0
    for chunk in _chunks(rows):
        values = [{"franchise_id": franchise_id, "shipment_id": r["shipment_id"], "kind": r["kind"],
                   "occurred_at": r.get("occurred_at"), "raised_at": now, "source": source,
                   "detail": r.get("detail")} for r in chunk]
        for shipment_id, kind in db.session.execute(statement, values).all():
            row = by_key[(shipment_id, kind)]
            announce_exception(franchise_id, shipment_id, row.get("waybill_no"), kind, row.get("occurred_at"),
                               source, provider, row.get("detail"), batched=batched)
            raised += 1
    return raised


def announce_exception(franchise_id: int, shipment_id: int, waybill_no: str | None, kind: str, occurred_at,
                       source: str, provider: str | None, detail: str | None, batched: bool = False) -> None:
    """The `shipment.exception` domain event (its payload is documented in core/hookspecs.py)."""
    emit("shipment.exception", franchise_id, {
        "shipment_id": shipment_id, "waybill_no": waybill_no, "kind": kind,
        "occurred_at": occurred_at.isoformat() if occurred_at else None, "source": source,
        "provider": provider, "detail": detail}, batched=batched)


def _store_unmatched(result: Plan, payload_id: int | None, now) -> None:
    if not result.unmatched:
        return
    statement = statements().insert_unmatched
    for chunk in _chunks(result.unmatched):
        db.session.execute(statement, [
            {"franchise_id": result.franchise_id, "provider": result.provider, "carrier": e.carrier,
             "waybill_no": e.waybill_no, "occurred_at": e.occurred_at, "status": e.status,
             "raw_code": e.raw_code, "raw_text": e.raw_text, "location": e.location, "received_at": now,
             "payload_id": payload_id} for e in chunk])
