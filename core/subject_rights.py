"""Data-subject requests (PIPL art. 45 and 47): everything held about one customer as a file, and erasure.

Erasure anonymises personal fields of the customer, their contacts, addresses, communication records and
the receiver fields of their shipments, and keeps what statistics need (dates, districts, weights, fees,
statuses). Plugins export and erase their own data through `crm_customer_data` / `crm_customer_erase`.
Both are written to the audit log with the actor's reason; the erase writes no field values there.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from core.audit import AUDIT_SUMMARY, audit_entry
from core.clock import utcnow
from core.extensions import db
from core.models import Customer, Shipment, TrackingEvent
from core.privacy import PersonalDataError, personal_fields

ERASED = "[erased]"


def _row(item, skip=()) -> dict:
    """A model row as plain data, personal values decrypted (the subject asked for their own data)."""
    data = {}
    for column in item.__table__.columns:
        key = column.key
        if key in skip or key.endswith("_enc") or key.endswith("_hash"):
            continue
        data[key] = _plain(getattr(item, key))
    for name in personal_fields(type(item)):
        data[name] = getattr(item, name)
    return data


def _plain(value):
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    return value


def _require_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if len(reason) < 2:
        raise PersonalDataError("reason", _l("say why (e.g. the request's reference)"))
    return reason


def customer_data(customer: Customer) -> dict:
    """Every record held about `customer`, core and plugins, as JSON-ready sections."""
    shipments = db.session.scalars(select(Shipment).where(Shipment.customer_id == customer.id)
                                   .order_by(Shipment.created_at)).all()
    events = db.session.scalars(select(TrackingEvent).where(
        TrackingEvent.shipment_id.in_(select(Shipment.id).where(Shipment.customer_id == customer.id)))
        .order_by(TrackingEvent.shipment_id, TrackingEvent.occurred_at)).all()
    sections = {
        "customer": [_row(customer)],
        "contacts": [_row(c) for c in customer.contacts],
        "addresses": [_row(a) for a in customer.addresses],
        "contracts": [_row(c) for c in customer.contracts],
        "communication_records": [_row(c) for c in customer.communications],
        "shipments": [_row(s) for s in shipments],
        "tracking_events": [_row(e) for e in events],
    }
    registry = current_app.extensions["crm_plugins"]
    for contributed in registry.hook_for_franchise("crm_customer_data", customer.franchise_id)(customer=customer):
        for name, rows in (contributed or {}).items():
            sections.setdefault(name, []).extend(rows)
    return sections


def export_customer(customer: Customer, reason: str) -> bytes:
    """The data-subject export as a UTF-8 JSON document; audited (caller commits)."""
    reason = _require_reason(reason)
    sections = customer_data(customer)
    document = {"exported_at": utcnow().isoformat(), "customer_id": customer.id, "data": sections}
    db.session.add(audit_entry(action="export", model="Customer", record_id=customer.id,
                               franchise_id=customer.franchise_id, reason=reason,
                               changes={"sections": [None, {k: len(v) for k, v in sections.items()}]}))
    return json.dumps(document, ensure_ascii=False, indent=2, default=str).encode("utf-8")


def erase_customer(customer: Customer, reason: str) -> dict[str, int]:
    """Anonymise the customer's personal data everywhere; returns how many rows of each kind changed.

    One transaction (the caller commits): either everything is erased or nothing is.
    """
    reason = _require_reason(reason)
    if customer.erased_at is not None:
        raise PersonalDataError("customer", _l("this customer's personal data was already erased"))
    counts = {}
    session = db.session
    session.info[AUDIT_SUMMARY] = True
    try:
        customer.name = f"{ERASED} #{customer.id}"
        customer.phone = None
        customer.id_number = None
        customer.external_id = None
        customer.license_no = customer.license_no if customer.is_business else None
        customer.tags = None
        customer.custom = {}
        customer.erased_at = utcnow()
        customer.marketing_opt_out = True
        for contact in customer.contacts:
            contact.name, contact.phone, contact.email, contact.note, contact.custom = ERASED, None, None, None, {}
        for address in customer.addresses:
            address.contact_name, address.phone, address.detail = None, None, None
        for record in customer.communications:
            record.key_issues = record.agreement = record.next_action = None
            record.topic = ERASED
        counts.update(contacts=len(customer.contacts), addresses=len(customer.addresses),
                      communication_records=len(customer.communications))
        counts["shipments"] = _erase_receivers(customer)
        registry = current_app.extensions["crm_plugins"]
        registry.hook_for_franchise("crm_customer_erase", customer.franchise_id)(customer=customer)
        session.flush()
    finally:
        session.info.pop(AUDIT_SUMMARY, None)
    session.add(audit_entry(action="erase", model="Customer", record_id=customer.id,
                            franchise_id=customer.franchise_id, reason=reason, changes={"rows": [None, counts]}))
    return counts


def _erase_receivers(customer) -> int:
    # shipments stay (statistics, the carrier's records); who received them does not
    count = 0
    for shipment in db.session.scalars(select(Shipment).where(Shipment.customer_id == customer.id)).yield_per(500):
        shipment.receiver_name = None
        shipment.receiver_phone = None
        shipment.receiver_address = None
        count += 1
    return count
