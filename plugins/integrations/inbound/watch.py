"""The scheduled watch over parcels in flight: no tracking update for too long (STALLED) and past the promised
delivery time (DELAYED) raise `shipment.exception`, once per shipment and kind, in one statement each."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import and_, exists, literal, select

from core.clock import utcnow
from core.extensions import db, dialect_insert
from core.models.statuses import TERMINAL_STATUSES
from plugins.integrations import settings
from plugins.integrations.inbound.store import EXCEPTIONS, SHIPMENTS, announce_exception

STALLED = "STALLED"
DELAYED = "DELAYED"


def watch_shipments(franchise_id: int, now: dt.datetime | None = None) -> dict[str, int]:
    """Periodic job body: raise what is new for this franchise; returns counts per kind."""
    now = now or utcnow()
    config = settings.current(franchise_id)
    watched = and_(SHIPMENTS.c.franchise_id == franchise_id,
                   SHIPMENTS.c.created_at >= now - dt.timedelta(days=int(config["watch_days"])),
                   SHIPMENTS.c.status.not_in(sorted(TERMINAL_STATUSES)))
    quiet_since = now - dt.timedelta(hours=int(config["stall_hours"]))
    last_update = db.func.coalesce(SHIPMENTS.c.status_at, SHIPMENTS.c.created_at)
    conditions = {
        STALLED: (last_update < quiet_since, last_update, "no tracking update since"),
        DELAYED: (SHIPMENTS.c.promised_at < now, SHIPMENTS.c.promised_at, "promised delivery by"),
    }
    counts = {}
    for kind, (condition, moment, detail) in conditions.items():
        already = exists().where(EXCEPTIONS.c.shipment_id == SHIPMENTS.c.id, EXCEPTIONS.c.kind == kind)
        source = (select(literal(franchise_id), SHIPMENTS.c.id, literal(kind), moment, literal(now),
                         literal("watch"), literal(detail))
                  .where(watched, condition, ~already))
        statement = (dialect_insert(EXCEPTIONS)
                     .from_select(["franchise_id", "shipment_id", "kind", "occurred_at", "raised_at", "source",
                                   "detail"], source)
                     .on_conflict_do_nothing(index_elements=["shipment_id", "kind"])
                     .returning(EXCEPTIONS.c.shipment_id, EXCEPTIONS.c.occurred_at))
        raised = db.session.execute(statement).all()
        waybills = dict(db.session.execute(select(SHIPMENTS.c.id, SHIPMENTS.c.waybill_no).where(
            SHIPMENTS.c.id.in_([r.shipment_id for r in raised]))).all()) if raised else {}
        for row in raised:
            announce_exception(franchise_id, row.shipment_id, waybills.get(row.shipment_id), kind,
                               row.occurred_at, "watch", None, detail)
        counts[kind] = len(raised)
    db.session.commit()
    return counts
