"""Work on what the inbox holds: events waiting for their waybill, replay of a stored payload, and purging."""

from __future__ import annotations

import datetime as dt
import time

from flask import current_app
from sqlalchemy import bindparam, delete, select, update

from core.clock import utcnow
from core.extensions import db
from plugins.integrations.inbound import gateway, store
from plugins.integrations.inbound.models import InboundPayload, UnmatchedEvent, open_body
from plugins.integrations.inbound.pushes import PushEvent, PushRejected, Request
from plugins.integrations.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER

BATCH = 5000


def match_unmatched(franchise_id: int) -> int:
    """Periodic job body: store inbox events whose waybill the franchise now has; returns events matched."""
    shipments, unmatched = store.SHIPMENTS, UnmatchedEvent.__table__
    matched = 0
    while True:
        rows = db.session.execute(
            select(unmatched, shipments.c.id.label("found_id"))
            .join(shipments, (shipments.c.waybill_no == unmatched.c.waybill_no)
                  & (shipments.c.franchise_id == franchise_id))
            .where(unmatched.c.franchise_id == franchise_id, unmatched.c.matched_at.is_(None))
            .order_by(unmatched.c.id).limit(BATCH)).all()
        if not rows:
            break
        by_provider: dict[str, list[PushEvent]] = {}
        for row in rows:
            by_provider.setdefault(row.provider, []).append(PushEvent(
                row.waybill_no, row.carrier, row.occurred_at, row.status, row.raw_code, row.raw_text, row.location))
        for provider, events in by_provider.items():
            store.apply(store.plan(franchise_id, provider, events), None, source="inbox")
        now = utcnow()
        db.session.execute(
            update(unmatched).where(unmatched.c.id == bindparam("uid"))
            .values(matched_at=now, shipment_id=bindparam("sid")),
            [{"uid": row.id, "sid": row.found_id} for row in rows])
        db.session.commit()
        matched += len(rows)
    return matched


def replay(payload: InboundPayload) -> dict:
    """Process a stored payload again with today's settings; returns the summary or raises PushRejected.

    The signature is checked again (a payload refused for a wrong salt passes once the salt is corrected);
    the replay window is not, since an admin replays old payloads on purpose.
    """
    if payload.franchise_id is None:
        raise PushRejected(400, "no_franchise", "the payload named no known franchise: it cannot be replayed")
    if not payload.body_enc:
        raise PushRejected(400, "no_body", "the payload's body was not kept")
    handler = gateway.state()["providers"].get(payload.provider)
    if handler is None:
        raise PushRejected(400, "unknown_provider", f"unknown provider {payload.provider!r}")
    headers = {name: value for name, value in ((TIMESTAMP_HEADER, payload.signed_timestamp),
                                               (SIGNATURE_HEADER, payload.signature)) if value}
    body = open_body(payload.body_enc)
    if len(body) != payload.body_bytes:
        raise PushRejected(400, "truncated", "only the beginning of this refused payload was kept")
    push_request = Request(body, headers, time.time(), check_window=False)
    config = gateway.franchise_settings(payload.franchise_id)
    try:
        return gateway.process(handler, payload.franchise_id, config, push_request, replay_of=payload.id)[1]
    except PushRejected as rejected:
        db.session.rollback()
        gateway.log_rejected(payload.provider, payload.franchise_id, push_request, rejected, None,
                               replay_of=payload.id)
        raise


def purge_inbox(franchise_id: int) -> int:
    """Periodic job body: forget payloads and matched inbox events older than CRM_INBOX_KEEP_DAYS."""
    cutoff = utcnow() - dt.timedelta(days=float(current_app.config.get("CRM_INBOX_KEEP_DAYS", 30)))
    payloads = InboundPayload.__table__
    removed = db.session.execute(delete(UnmatchedEvent.__table__).where(
        UnmatchedEvent.franchise_id == franchise_id, UnmatchedEvent.received_at < cutoff)).rowcount
    removed += db.session.execute(delete(payloads).where(
        (payloads.c.franchise_id == franchise_id) | payloads.c.franchise_id.is_(None),
        payloads.c.received_at < cutoff)).rowcount
    db.session.commit()
    return removed
