"""Domain events: raised inside a transaction, delivered to active plugins after it commits.

    from core.events import emit
    emit("shipment.exception", franchise_id=shipment.franchise_id, payload={"shipment_id": shipment.id})

Delivery goes through the job outbox (at least once), and only plugins active in the event's franchise
receive `crm_domain_event`.
"""

from __future__ import annotations

import uuid

from sqlalchemy import literal, select

from core import jobs
from core.extensions import sql_json, sql_json_array
from core.plugins import registry


def emit(event: str, franchise_id: int, payload: dict | None = None, queue: str = "default",
         batched: bool = False):
    """Queue a domain event; it is delivered after the current transaction commits (`batched`: by the next
    relay round of `crm cron`, for emitters on a hot path; see `core.jobs.enqueue`)."""
    if not franchise_id:
        raise ValueError("a domain event belongs to a franchise")
    # an id per event: a redelivery carries the same one, two events alike in every field do not
    payload = {**(payload or {}), "event_id": (payload or {}).get("event_id") or uuid.uuid4().hex}
    return jobs.enqueue(deliver, event, franchise_id, payload, queue=queue, franchise_id=franchise_id,
                        batched=batched)


def emit_from_select(event: str, franchise_id: int, payload_select, queue: str = "default") -> int:
    """One event per row of `payload_select` (a SELECT of one JSON object column, e.g.
    `core.extensions.sql_json_object(...)`, which must carry an `event_id`), queued in one INSERT ... SELECT;
    delivered as `batched=True` events are."""
    if not franchise_id:
        raise ValueError("a domain event belongs to a franchise")
    payload = payload_select.subquery()
    args = select(sql_json_array(literal(event), literal(franchise_id), sql_json(list(payload.c)[0])))
    return jobs.enqueue_from_select(deliver, args, queue=queue, franchise_id=franchise_id)


def deliver(event: str, franchise_id: int, payload: dict):
    """Job body: call `crm_domain_event` on the plugins active in the franchise."""
    caller = registry().hook_for_franchise("crm_domain_event", franchise_id)
    return caller(event=event, franchise_id=franchise_id, payload=payload)
