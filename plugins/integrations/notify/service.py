"""`crm_send_message`: check the request, respect the customer's opt-out and the daily limit, log the
message in the caller's transaction and send it through the franchise's gateway after commit."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import func, select, update

from core import jobs
from core.clock import utcnow
from core.extensions import db
from core.models import Customer
from plugins.integrations import settings as integration_settings
from plugins.integrations.notify.backends import OutgoingMessage, backend_for
from plugins.integrations.notify.models import CHANNELS, CONSENT_PURPOSES, COUNTED_STATUSES, PURPOSES, Message

MAX_MERGE_HOPS = 5


def send_message(franchise_id, customer_id, channel, template, params, purpose) -> dict:
    """See `core.hookspecs.crm_send_message`. Wrong arguments (a caller's bug) raise ValueError naming the
    argument; what the customer's data decides (opt-out, limit, no phone) is logged and returned."""
    _check_arguments(franchise_id, customer_id, channel, template, params, purpose)
    customer = _recipient(franchise_id, customer_id)
    message = Message(franchise_id=franchise_id, customer_id=customer.id, channel=channel, template=template,
                      params=dict(params or {}), purpose=purpose, status="queued")
    if purpose in CONSENT_PURPOSES and customer.marketing_opt_out:
        return _logged(message, "opted_out", "the customer opted out of surveys and marketing")
    if customer.erased_at is not None or not customer.phone:
        return _logged(message, "no_recipient", "the customer has no phone number")
    limit = integration_settings.current(franchise_id).get("messages_per_customer_per_day") or 0
    if limit and _sent_today(franchise_id, customer.id) >= limit:
        return _logged(message, "rate_limited", f"{limit} message(s) a day reached")
    message.recipient = customer.phone
    _logged(message, "queued", None)
    jobs.enqueue(deliver_message, message.id, franchise_id=franchise_id)
    return {"status": "queued", "message_id": message.id, "detail": "sent after the transaction commits"}


def _check_arguments(franchise_id, customer_id, channel, template, params, purpose) -> None:
    if channel not in CHANNELS:
        raise ValueError(f"channel: {channel!r} is not one of {', '.join(CHANNELS)}")
    if purpose not in PURPOSES:
        raise ValueError(f"purpose: {purpose!r} is not one of {', '.join(PURPOSES)}")
    if not isinstance(template, str) or not template.strip() or len(template) > 64:
        raise ValueError("template: a template code of 1 to 64 characters is required")
    if params is not None and not isinstance(params, dict):
        raise ValueError("params: a dict of the template's values is required")
    if not isinstance(franchise_id, int) or not isinstance(customer_id, int):
        raise ValueError("franchise_id and customer_id: integer ids are required")


def _recipient(franchise_id: int, customer_id: int) -> Customer:
    """The customer in this franchise, or the one it was merged into; locked so that two sends at once
    cannot both pass the daily limit (PostgreSQL; SQLite writes one at a time anyway)."""
    for _hop in range(MAX_MERGE_HOPS):
        customer = db.session.scalars(select(Customer).where(
            Customer.id == customer_id, Customer.franchise_id == franchise_id).with_for_update()).first()
        if customer is None:
            raise ValueError(f"customer_id: no customer {customer_id} in franchise {franchise_id}")
        if customer.merged_into_id is None:
            return customer
        customer_id = customer.merged_into_id
    raise ValueError(f"customer_id: customer {customer_id} is merged too many times over")


def _sent_today(franchise_id: int, customer_id: int) -> int:
    return db.session.scalar(select(func.count()).select_from(Message).where(
        Message.franchise_id == franchise_id, Message.customer_id == customer_id,
        Message.status.in_(COUNTED_STATUSES), Message.created_at >= local_day_start_utc()))


def local_day_start_utc(now: datetime | None = None) -> datetime:
    """Midnight of today in the network's time zone, as the naive UTC the database stores: the daily limit
    follows the customers' calendar day, not UTC's."""
    zone = ZoneInfo(current_app.config.get("CRM_TIMEZONE", "Asia/Shanghai"))
    local = (now or utcnow()).replace(tzinfo=ZoneInfo("UTC")).astimezone(zone)
    midnight = datetime.combine(local.date(), time(0), tzinfo=zone)
    return midnight.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)


def _logged(message: Message, status: str, error: str | None) -> dict:
    message.status, message.error = status, error
    db.session.add(message)
    db.session.flush()
    return {"status": status, "message_id": message.id, "detail": error or ""}


def deliver_message(message_id: int) -> str | None:
    """Job: send one queued message through the franchise's backend (settings read at send time)."""
    claimed = db.session.execute(update(Message).where(Message.id == message_id, Message.status == "queued")
                                 .values(status="sending")).rowcount
    db.session.commit()
    if not claimed:
        return None
    message = db.session.get(Message, message_id)
    try:
        backend = backend_for(integration_settings.current(message.franchise_id))
    except ValueError as exc:
        message.status, message.error = "failed", str(exc)
        db.session.commit()
        return message.status
    message.backend = backend.name
    phone, outgoing = message.recipient, OutgoingMessage.of(message)
    db.session.commit()  # no transaction stays open while the gateway answers
    outcome = backend.send(outgoing, phone)
    message = db.session.get(Message, message_id)
    if outcome.sent:
        message.status, message.sent_at, message.error = "sent", utcnow(), None
        message.provider_message_id = outcome.provider_message_id
    else:
        # not retried: a late SMS misleads more than a missing one, and a gateway may have sent it after all
        message.status, message.error = "failed", (outcome.error or "")[:2000]
    db.session.commit()
    return message.status


def customer_messages(customer) -> list[dict]:
    """The message log of a customer for the data-subject export (PIPL art. 45)."""
    rows = db.session.scalars(select(Message).where(Message.customer_id == customer.id).order_by(Message.id))
    return [{"created_at": m.created_at.isoformat(), "channel": m.channel, "template": m.template,
             "purpose": m.purpose, "status": m.status, "recipient": m.recipient, "params": m.params} for m in rows]


def erase_customer(customer) -> None:
    """PIPL art. 47: the log keeps the counts, loses the phone and the template values (caller commits)."""
    db.session.execute(update(Message).where(Message.customer_id == customer.id)
                       .values(recipient_enc=None, params={}).execution_options(synchronize_session=False))
