"""Ticket figures for a franchise scope and a period [start, end) of creation times, computed in the database.

Every figure is one aggregate query over the tickets created in the period (a cohort by creation time), so
the index leading with (franchise_id, created_at) finds the rows however many tickets there are; nothing
loops over tickets in Python. Times are stored as naive UTC; buckets (day, week, month) are cut in the
network's time zone (CRM_TIMEZONE).

Definitions (see domain.md, "CRM KPIs"):
- first response time: first_responded_at - created_at, calendar hours; median and P90 of the responded tickets.
- time to resolve: resolved_at - created_at, calendar hours (waiting time included); median and P90 of the
  resolved tickets.
- SLA attainment %: resolved tickets that breached neither the first-response nor the resolution target,
  over resolved tickets.
- FCR % (first contact resolution): resolved tickets never reopened and answered with exactly one reply to
  the customer (timeline lines of kind "reply"), over resolved tickets. A customer writing again within the
  reopen window reopens the ticket, which is how "re-contacted within N days" is counted.
- backlog age: open tickets by time since creation: under 1 day, 1-3 days, 3-7 days, over 7 days.
- complaint rate: complaints created in the period per 10,000 parcels (core shipments) created in the period.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import Integer, and_, case, cast, extract, func, literal, not_, or_, select

from core.clock import network_zone, utcnow
from core.extensions import db
from core.models import Shipment
from core.tenancy import Franchise, Scope
from plugins.tickets.models import Ticket, TicketEvent

BUCKETS = ("day", "week", "month")
DIMENSIONS = ("type", "category", "franchise", "transfer_centre")
BACKLOG_BUCKETS = ("lt_1d", "1_3d", "3_7d", "gt_7d")
PER_PARCELS = 10000


@dataclass(frozen=True)
class Spread:
    """Median and 90th percentile (hours) of `count` values; None when there are none."""

    median: float | None
    p90: float | None
    count: int


@dataclass(frozen=True)
class Rate:
    """`numerator` / `denominator` × `per` (a percentage by default); `value` None when nothing to divide by."""

    numerator: int
    denominator: int
    per: int = 100

    @property
    def value(self) -> float | None:
        return round(self.numerator * self.per / self.denominator, 2) if self.denominator else None


def _dialect() -> str:
    return db.session.get_bind().dialect.name


def _franchise_condition(scope: Scope, column):
    """The scope as a condition on `column`; HQ's "everything" becomes the list of franchises, so the
    indexes leading with franchise_id still serve a period filter."""
    if scope.all:
        ids = list(db.session.scalars(select(Franchise.id)))
        return column.in_(ids) if ids else literal(False)
    return scope.criterion(column)


def _cohort(scope: Scope, start: datetime, end: datetime, *extra):
    return and_(_franchise_condition(scope, Ticket.franchise_id), Ticket.created_at >= start,
                Ticket.created_at < end, *extra)


def utc_offset_seconds(at: datetime | None = None) -> int:
    at = (at or utcnow()).replace(tzinfo=timezone.utc)
    return int(at.astimezone(network_zone()).utcoffset().total_seconds())


def bucket_expression(column, bucket: str, offset_seconds: int):
    """The local day, Monday of the week or first of the month of a UTC `column`, as an SQL expression."""
    if bucket not in BUCKETS:
        raise ValueError(f"bucket: not one of {', '.join(BUCKETS)}")
    if _dialect() == "postgresql":
        return func.date_trunc(bucket, column + timedelta(seconds=offset_seconds))
    local = func.datetime(column, f"{offset_seconds:+d} seconds")
    if bucket == "day":
        return func.date(local)
    if bucket == "week":
        return func.date(local, "-6 days", "weekday 1")
    return func.strftime("%Y-%m-01", local)


def _bucket_label(value) -> str:
    return value.strftime("%Y-%m-%d") if hasattr(value, "strftime") else str(value)[:10]


def hours_between(later, earlier):
    if _dialect() == "postgresql":
        return extract("epoch", later - earlier) / 3600.0
    return (func.julianday(later) - func.julianday(earlier)) * 24.0


def _dimension_column(dimension: str):
    if dimension not in DIMENSIONS:
        raise ValueError(f"dimension: not one of {', '.join(DIMENSIONS)}")
    return Ticket.franchise_id if dimension == "franchise" else getattr(Ticket, dimension)


def ticket_counts(scope: Scope, start: datetime, end: datetime, dimension: str = "type",
                  bucket: str = "day") -> list[tuple[str, object, int]]:
    """(bucket start "YYYY-MM-DD", dimension value, tickets created) for the period, in bucket order."""
    key = _dimension_column(dimension)
    period = bucket_expression(Ticket.created_at, bucket, utc_offset_seconds(start)).label("bucket")
    query = (select(period, key, func.count()).where(_cohort(scope, start, end))
             .group_by(period, key).order_by(period, key))
    return [(_bucket_label(b), k, n) for b, k, n in db.session.execute(query)]


def _spreads_postgres(scope, start, end) -> dict[str, Spread]:
    first = hours_between(Ticket.first_responded_at, Ticket.created_at)
    resolve = hours_between(Ticket.resolved_at, Ticket.created_at)
    query = select(
        func.percentile_cont(0.5).within_group(first), func.percentile_cont(0.9).within_group(first), func.count(first),
        func.percentile_cont(0.5).within_group(resolve), func.percentile_cont(0.9).within_group(resolve),
        func.count(resolve),
    ).where(_cohort(scope, start, end))  # NULLs (not responded, not resolved) are left out by both aggregates
    row = db.session.execute(query).one()
    return {"first_response": _spread(row[0], row[1], row[2]), "resolution": _spread(row[3], row[4], row[5])}


def _spread(median, p90, count) -> Spread:
    return Spread(None if median is None else round(float(median), 2), None if p90 is None else round(float(p90), 2),
                  int(count or 0))


def _percentiles_by_rank(scope, start, end, later, fractions=(0.5, 0.9)) -> Spread:
    """percentile_cont without the aggregate (SQLite): rank the values with window functions and fetch only the
    two neighbours of each wanted rank, then interpolate between them."""
    value = hours_between(later, Ticket.created_at).label("h")
    values = select(value).where(_cohort(scope, start, end, later.is_not(None))).subquery()
    ranked = select(values.c.h, func.row_number().over(order_by=values.c.h).label("rn"),
                    func.count().over().label("n")).subquery()
    wanted = []
    for fraction in fractions:
        low = cast(1 + (ranked.c.n - 1) * fraction, Integer)  # floor: the values are positive
        wanted += [ranked.c.rn == low, ranked.c.rn == low + 1]
    rows = db.session.execute(select(ranked.c.rn, ranked.c.h, ranked.c.n).where(or_(*wanted))).all()
    if not rows:
        return Spread(None, None, 0)
    count = rows[0].n
    by_rank = {rn: h for rn, h, _ in rows}
    results = []
    for fraction in fractions:
        position = 1 + (count - 1) * fraction
        low = int(position)
        below, above = by_rank[low], by_rank.get(low + 1, by_rank[low])
        results.append(below + (above - below) * (position - low))
    return _spread(results[0], results[1], count)


def response_times(scope: Scope, start: datetime, end: datetime) -> dict[str, Spread]:
    """{"first_response": Spread, "resolution": Spread} in calendar hours for the tickets created in the period."""
    if _dialect() == "postgresql":
        return _spreads_postgres(scope, start, end)
    return {"first_response": _percentiles_by_rank(scope, start, end, Ticket.first_responded_at),
            "resolution": _percentiles_by_rank(scope, start, end, Ticket.resolved_at)}


def _ratio(condition, scope, start, end, *base) -> Rate:
    query = select(func.count(), func.coalesce(func.sum(case((condition, 1), else_=0)), 0)).where(
        _cohort(scope, start, end, *base))
    total, hits = db.session.execute(query).one()
    return Rate(int(hits), int(total))


def sla_attainment(scope: Scope, start: datetime, end: datetime) -> Rate:
    """Resolved tickets that breached no SLA target, over resolved tickets (%)."""
    met = and_(not_(Ticket.resolution_breached), not_(Ticket.first_response_breached))
    return _ratio(met, scope, start, end, Ticket.resolved_at.is_not(None))


def first_contact_resolution(scope: Scope, start: datetime, end: datetime) -> Rate:
    """Resolved tickets never reopened and answered with exactly one reply, over resolved tickets (%)."""
    replies = (select(func.count()).select_from(TicketEvent)
               .where(TicketEvent.ticket_id == Ticket.id, TicketEvent.kind == "reply").scalar_subquery())
    return _ratio(and_(Ticket.reopened_count == 0, replies == 1), scope, start, end, Ticket.resolved_at.is_not(None))


def backlog_age(scope: Scope, now: datetime | None = None) -> dict[str, int]:
    """Open tickets by age: {"lt_1d": n, "1_3d": n, "3_7d": n, "gt_7d": n}."""
    now = now or utcnow()
    day1, day3, day7 = (now - timedelta(days=d) for d in (1, 3, 7))

    def between(newest, oldest):
        condition = Ticket.created_at > oldest if newest is None else and_(Ticket.created_at <= newest,
                                                                           Ticket.created_at > oldest)
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    query = select(between(None, day1), between(day1, day3), between(day3, day7),
                   func.coalesce(func.sum(case((Ticket.created_at <= day7, 1), else_=0)), 0)).where(
        _franchise_condition(scope, Ticket.franchise_id), Ticket.is_open.is_(True))
    return dict(zip(BACKLOG_BUCKETS, (int(n) for n in db.session.execute(query).one())))


def complaint_rate(scope: Scope, start: datetime, end: datetime) -> Rate:
    """Complaints created in the period per 10,000 parcels created in the period."""
    complaints = db.session.scalar(select(func.count()).where(_cohort(scope, start, end, Ticket.type == "complaint")))
    parcels = db.session.scalar(select(func.count()).select_from(Shipment).where(
        _franchise_condition(scope, Shipment.franchise_id), Shipment.created_at >= start, Shipment.created_at < end))
    return Rate(int(complaints or 0), int(parcels or 0), per=PER_PARCELS)


def open_tickets(scope: Scope) -> int:
    query = select(func.count()).select_from(Ticket).where(_franchise_condition(scope, Ticket.franchise_id),
                                                           Ticket.is_open.is_(True))
    return int(db.session.scalar(query) or 0)
