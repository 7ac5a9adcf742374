"""Delivering domain events to subscribed URLs: one delivery per event and subscription, sent by a job after
commit, retried with backoff by a periodic job, re-sent by hand from the delivery log.

A try that gets a 2xx answer is delivered. A non-2xx answer or a network error is retried after 1 min,
5 min, 30 min, 2 h and 12 h (`CRM_WEBHOOK_BACKOFF`, seconds), then the delivery is failed. A URL the address
policy refuses fails at once. A deactivated (or deleted) subscription cancels its pending retries.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select, update

from core import jobs
from core.clock import utcnow
from core.extensions import db, dialect_insert
from plugins.integrations.signing import signed_headers
from plugins.integrations.webhooks import http
from plugins.integrations.webhooks.models import TEST_EVENT, WebhookDelivery, WebhookSubscription

DEFAULT_BACKOFF = (60, 300, 1800, 7200, 43200)
HISTORY_KEPT = 20
EVENT_HEADER = "X-CRM-Event"
DELIVERY_HEADER = "X-CRM-Delivery"


def backoff() -> tuple[int, ...]:
    return tuple(current_app.config.get("CRM_WEBHOOK_BACKOFF", DEFAULT_BACKOFF))


def idempotency_key(event: str, payload: dict) -> str:
    """The same domain event gives the same key. An emitter whose payloads can legitimately repeat
    (the same customer reaching the same tier twice) includes an `event_id` to tell occurrences apart."""
    if payload.get("event_id"):
        basis = f"{event}:id:{payload['event_id']}"
    else:
        basis = f"{event}:{json.dumps(payload, sort_keys=True, separators=(',', ':'), default=str)}"
    return hashlib.sha256(basis.encode()).hexdigest()


def on_domain_event(event: str, franchise_id: int, payload: dict) -> list[int]:
    """`crm_domain_event`: a delivery (and its send job) for each active subscription of the franchise that
    wants `event`. Runs inside the event's job; a repeat of the same event adds nothing."""
    payload = payload or {}
    key = idempotency_key(event, payload)
    subscriptions = db.session.scalars(select(WebhookSubscription).where(
        WebhookSubscription.franchise_id == franchise_id, WebhookSubscription.active.is_(True))).all()
    created = []
    for subscription in subscriptions:
        if not subscription.wants(event):
            continue
        delivery = _add_delivery(subscription, event, payload, key)
        if delivery is not None:
            created.append(delivery.id)
    return created


def _add_delivery(subscription, event, payload, key) -> WebhookDelivery | None:
    row = {"uid": str(uuid.uuid4()), "subscription_id": subscription.id, "franchise_id": subscription.franchise_id,
           "event": event, "idempotency_key": key, "payload": payload, "status": "pending", "attempts": 0,
           "next_attempt_at": utcnow(), "history": [], "created_at": utcnow()}
    # two workers may take the same event at once: the unique key lets the first insert win, the other yields
    statement = dialect_insert(WebhookDelivery).on_conflict_do_nothing()
    inserted = db.session.execute(statement.values(row).returning(WebhookDelivery.id)).scalar()
    if inserted is None:
        return None
    delivery = db.session.get(WebhookDelivery, inserted)
    _enqueue_send(delivery)
    return delivery


def _enqueue_send(delivery: WebhookDelivery) -> None:
    db.session.flush()
    jobs.enqueue(send_delivery, delivery.id, franchise_id=delivery.franchise_id)


def body_of(delivery: WebhookDelivery, franchise_code: str | None) -> bytes:
    document = {"id": delivery.uid, "event": delivery.event, "franchise": franchise_code,
                "created_at": delivery.created_at.isoformat() + "Z", "data": delivery.payload}
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def send_delivery(delivery_id: int) -> str | None:
    """Job: one try of a delivery. Returns the status it ends in (None when another worker has it)."""
    claimed = db.session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id, WebhookDelivery.status.in_(("pending", "retrying")))
        .values(status="sending", last_attempt_at=utcnow(), attempts=WebhookDelivery.attempts + 1)
    ).rowcount
    db.session.commit()
    if not claimed:
        return None
    delivery = db.session.get(WebhookDelivery, delivery_id)
    subscription = delivery.subscription
    if subscription is None or not subscription.active:
        delivery.attempts -= 1  # nothing was sent
        _settle(delivery, "cancelled", error="the subscription is deactivated")
        db.session.commit()
        return delivery.status
    body = body_of(delivery, subscription.franchise.code)
    url, secret, event, uid = subscription.url, subscription.secret, delivery.event, delivery.uid
    db.session.commit()  # no transaction stays open while the receiver takes its time
    headers = {EVENT_HEADER: event, DELIVERY_HEADER: uid, **signed_headers(secret, body)}
    result = http.post(url, body, headers)
    delivery = db.session.get(WebhookDelivery, delivery_id)
    _record_try(delivery, result)
    db.session.commit()
    return delivery.status


def _record_try(delivery: WebhookDelivery, result: http.PostResult) -> None:
    now = utcnow()
    delivery.last_response_code = result.status
    delivery.response_excerpt = result.excerpt or None
    delivery.duration_ms = result.duration_ms
    entry = {"at": now.isoformat(timespec="seconds"), "code": result.status, "ms": result.duration_ms}
    if result.error:
        entry["error"] = result.error
    delivery.history = (list(delivery.history or []) + [entry])[-HISTORY_KEPT:]
    if result.ok:
        delivery.delivered_at = now
        _settle(delivery, "delivered")
        return
    error = result.error or f"HTTP {result.status}"
    delays = backoff()
    if result.refused or delivery.attempts > len(delays):
        _settle(delivery, "failed", error=error)
        return
    delivery.status, delivery.last_error = "retrying", error
    delivery.next_attempt_at = now + timedelta(seconds=delays[delivery.attempts - 1])


def _settle(delivery, status, error=None) -> None:
    delivery.status, delivery.last_error, delivery.next_attempt_at = status, error, None


def retry_due(franchise_id: int, now: datetime | None = None) -> int:
    """Periodic job: enqueue the franchise's due retries (and take back tries a dead worker left sending)."""
    now = now or utcnow()
    stale = now - timedelta(seconds=2 * http.timeout_seconds() + 60)
    db.session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.franchise_id == franchise_id, WebhookDelivery.status == "sending",
               WebhookDelivery.last_attempt_at < stale)
        .values(status="retrying", next_attempt_at=now, last_error="the try did not finish"))
    inactive = select(WebhookSubscription.id).where(WebhookSubscription.active.is_(False))
    db.session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.franchise_id == franchise_id,
               WebhookDelivery.status.in_(("pending", "retrying")),
               WebhookDelivery.subscription_id.in_(inactive))
        .values(status="cancelled", next_attempt_at=None, last_error="the subscription is deactivated"))
    due = db.session.scalars(
        select(WebhookDelivery.id)
        .where(WebhookDelivery.franchise_id == franchise_id, WebhookDelivery.status == "retrying",
               WebhookDelivery.next_attempt_at <= now)
        .order_by(WebhookDelivery.next_attempt_at).limit(1000)).all()
    for delivery_id in due:
        jobs.enqueue(send_delivery, delivery_id, franchise_id=franchise_id)
    return len(due)


def resend(delivery: WebhookDelivery) -> bool:
    """Send a delivery again, whatever its status (caller commits). False when its subscription is off."""
    if delivery.subscription is None or not delivery.subscription.active or delivery.status == "sending":
        return False
    delivery.status, delivery.next_attempt_at, delivery.last_error = "pending", utcnow(), None
    _enqueue_send(delivery)
    return True


def send_test(subscription: WebhookSubscription) -> WebhookDelivery:
    """A `webhook.test` delivery to check the receiver's URL and signature code (caller commits)."""
    delivery = WebhookDelivery(uid=str(uuid.uuid4()), subscription_id=subscription.id,
                               franchise_id=subscription.franchise_id, event=TEST_EVENT,
                               idempotency_key=uuid.uuid4().hex,
                               payload={"test": True, "subscription": subscription.name},
                               status="pending", attempts=0, next_attempt_at=utcnow(), history=[])
    db.session.add(delivery)
    _enqueue_send(delivery)
    return delivery
