"""What arrived from tracking partners: every payload as received, events whose waybill is not known yet,
and the exceptions already raised per shipment (so each kind is raised once)."""

from __future__ import annotations

import zlib

from flask_appbuilder import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import Column, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import relationship

from core.clock import utcnow
from core.models import Shipment
from core.privacy import vault
from core.tenancy import Franchise, InFranchise

OUTCOMES = {
    "accepted": _l("accepted"),        # at least one new event stored
    "duplicate": _l("duplicate"),      # every event was already known
    "unmatched": _l("unmatched"),      # events kept in the inbox: their waybills are not known yet
    "rejected": _l("rejected"),        # refused (signature, format, franchise...): nothing stored
}

PROVIDERS = {"kuaidi100": "Kuaidi100 快递100", "kdniao": "Kdniao 快递鸟", "generic": _l("Generic signed JSON")}


def seal_body(body: bytes) -> str:
    """A payload as stored: compressed (Chinese JSON shrinks fourfold, less WAL per push), then encrypted."""
    return vault().seal(zlib.compress(body, 1))


def open_body(token: str) -> bytes:
    return zlib.decompress(vault().unseal(token))


class InboundPayload(Model):
    """One push as received: raw body (encrypted: traces carry names and phones), outcome and counts."""

    __tablename__ = "integ_inbound_payload"
    __crm_label__ = _l("Inbound payload")
    __table_args__ = (
        Index("ix_integ_inbound_payload_franchise_received", "franchise_id", "received_at"),
        Index("ix_integ_inbound_payload_received", "received_at"),
        Index("ix_integ_inbound_payload_waybill", "waybill_no"),
    )

    id = Column(Integer, primary_key=True)
    # none when the push named no known franchise: only HQ sees those
    franchise_id = Column(Integer, ForeignKey("crm_franchise.id", ondelete="CASCADE"), nullable=True)
    franchise = relationship(Franchise)
    provider = Column(String(16), nullable=False)
    received_at = Column(DateTime, nullable=False, default=utcnow)
    outcome = Column(String(12), nullable=False)
    http_status = Column(Integer, nullable=False)
    reason = Column(String(255))
    # the first waybill of the payload (filterable); `waybill_count` says whether there were more
    waybill_no = Column(String(32))
    waybill_count = Column(Integer, nullable=False, default=0)
    events_total = Column(Integer, nullable=False, default=0)
    events_new = Column(Integer, nullable=False, default=0)
    events_duplicate = Column(Integer, nullable=False, default=0)
    events_unmatched = Column(Integer, nullable=False, default=0)
    body_enc = Column(Text)
    body_bytes = Column(Integer, nullable=False, default=0)
    # what the signature check needs besides the body (the generic format signs in headers)
    signed_timestamp = Column(String(16))
    signature = Column(String(128))
    remote_addr = Column(String(64))
    replay_of_id = Column(Integer, ForeignKey("integ_inbound_payload.id", ondelete="SET NULL"))

    def __repr__(self):
        return f"{self.provider} #{self.id}"


class UnmatchedEvent(InFranchise, Model):
    """A tracking event for a waybill the franchise does not have (yet); matched when the shipment appears."""

    __tablename__ = "integ_unmatched_event"
    __crm_label__ = _l("Unmatched event")
    __table_args__ = (
        UniqueConstraint("franchise_id", "provider", "waybill_no", "occurred_at", "raw_code",
                         name="uq_integ_unmatched_event"),
        Index("ix_integ_unmatched_event_open", "franchise_id", "matched_at", "waybill_no"),
        Index("ix_integ_unmatched_event_received", "franchise_id", "received_at"),
    )

    id = Column(Integer, primary_key=True)
    provider = Column(String(16), nullable=False)
    carrier = Column(String(16))
    waybill_no = Column(String(32), nullable=False)
    occurred_at = Column(DateTime, nullable=False)
    status = Column(String(24), nullable=False)
    raw_code = Column(String(32), nullable=False, default="")
    raw_text = Column(Text)
    location = Column(String(128))
    received_at = Column(DateTime, nullable=False, default=utcnow)
    payload_id = Column(Integer, ForeignKey("integ_inbound_payload.id", ondelete="SET NULL"))
    matched_at = Column(DateTime)
    shipment_id = Column(Integer, ForeignKey("crm_shipment.id", ondelete="SET NULL"))
    shipment = relationship(Shipment)

    def __repr__(self):
        return f"{self.waybill_no} {self.status}"


class ShipmentException(InFranchise, Model):
    """An exception kind raised for a shipment: the `shipment.exception` event goes out once per row."""

    __tablename__ = "integ_shipment_exception"
    __crm_label__ = _l("Shipment exception")
    __table_args__ = (
        UniqueConstraint("shipment_id", "kind", name="uq_integ_shipment_exception"),
        Index("ix_integ_shipment_exception_franchise_raised", "franchise_id", "raised_at"),
    )

    id = Column(Integer, primary_key=True)
    shipment_id = Column(Integer, ForeignKey("crm_shipment.id", ondelete="CASCADE"), nullable=False)
    shipment = relationship(Shipment)
    # a canonical exception status, or STALLED (no update for too long) raised by the watch job
    kind = Column(String(24), nullable=False)
    occurred_at = Column(DateTime)
    raised_at = Column(DateTime, nullable=False, default=utcnow)
    source = Column(String(16), nullable=False)  # event | watch
    detail = Column(String(255))

    def __repr__(self):
        return f"{self.shipment} {self.kind}"
