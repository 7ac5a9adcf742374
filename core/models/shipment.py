"""Shipments (waybills) and their tracking events, with the canonical status of domain.md 1.7."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from flask_appbuilder import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import Column, DateTime, ForeignKey, Index, Integer, Numeric, String, Text, UniqueConstraint, select
from sqlalchemy.orm import relationship

from core import divisions
from core.clock import local_now, utcnow
from core.lowcode.models import CustomFieldsMixin
from core.models import choices
from core.models.customer import Customer, district_problem
from core.models.statuses import EXCEPTION_STATUSES, STATUSES
from core.privacy import PersonalValue, blind_index_column, encrypted_column, mask_name
from core.tenancy import Franchise, InFranchise

# clocks of scanners and partners drift; a time this far ahead is still "now"
FUTURE_TOLERANCE = dt.timedelta(minutes=10)


def future_problem(value) -> str | None:
    # staff type times in the network's local time, machines send UTC: "now" is the later of the two
    if value is not None and value > max(utcnow(), local_now()) + FUTURE_TOLERANCE:
        return str(_l("cannot be in the future"))
    return None


class Shipment(InFranchise, CustomFieldsMixin, Model):
    __tablename__ = "crm_shipment"
    __crm_label__ = _l("Shipment")
    __audited__ = True
    __audit_redact__ = {"receiver_name", "receiver_phone_enc", "receiver_phone_hash", "receiver_address_enc"}
    # machine status updates (tracking pushes) are history in TrackingEvent, not changes anyone made
    __audit_ignore__ = {"status", "status_at", "delivered_at"}
    __personal_names__ = ("receiver_name",)
    # a parcel goes to any franchise of the network: naming the destination is not reaching into its data
    __open_references__ = ("dest_franchise",)
    __table_args__ = (
        UniqueConstraint("carrier", "waybill_no", name="uq_crm_shipment_waybill"),
        Index("ix_crm_shipment_franchise_created", "franchise_id", "created_at"),
        Index("ix_crm_shipment_created", "created_at"),
        Index("ix_crm_shipment_customer_created", "customer_id", "created_at"),
        # a status filter sorted by date (lists of exceptions): HQ without, franchises with their franchise
        Index("ix_crm_shipment_status_created", "status", "created_at"),
        Index("ix_crm_shipment_franchise_status_created", "franchise_id", "status", "created_at"),
        Index("ix_crm_shipment_receiver_phone", "receiver_phone_hash"),
        Index("ix_crm_shipment_waybill", "waybill_no"),
    )

    id = Column(Integer, primary_key=True)
    # the origin franchise owns the record; the destination franchise sees it through explicit sharing only
    carrier = Column(String(16), nullable=False, default="CRM")
    waybill_no = Column(String(32), nullable=False)
    customer_id = Column(Integer, ForeignKey("crm_customer.id"), nullable=True)
    customer = relationship(Customer, backref="shipments")
    dest_franchise_id = Column(Integer, ForeignKey("crm_franchise.id"), nullable=True)
    dest_franchise = relationship(Franchise, foreign_keys=[dest_franchise_id])
    service_product = Column(String(16), nullable=False, default="standard")
    weight_kg = Column(Numeric(10, 3))
    fee = Column(Numeric(10, 2))
    # what the sender declared (保价): the ceiling of a claim without a special approval
    declared_value = Column(Numeric(12, 2))
    receiver_name = Column(String(64))
    receiver_district_code = Column(String(6))
    receiver_phone_enc = encrypted_column("receiver_phone")
    receiver_phone_hash = blind_index_column("receiver_phone")
    receiver_address_enc = encrypted_column("receiver_address")
    external_order_id = Column(String(64))
    created_at = Column(DateTime, nullable=False, default=utcnow)
    promised_at = Column(DateTime)
    status = Column(String(24), nullable=False, default="CREATED")
    status_at = Column(DateTime)
    delivered_at = Column(DateTime)

    receiver_phone = PersonalValue("phone", searchable=True)
    receiver_address = PersonalValue("text")

    def __repr__(self):
        return self.waybill_no or ""

    @property
    def is_exception(self) -> bool:
        return self.status in EXCEPTION_STATUSES

    @property
    def receiver_masked(self) -> str:
        return mask_name(self.receiver_name)

    @property
    def receiver_area(self) -> str:
        return divisions.full_name(self.receiver_district_code) if self.receiver_district_code else ""

    def validation_errors(self, check_clash: bool = True) -> dict[str, str]:
        """Problems of this shipment; `check_clash=False` when the caller looked the waybills up in bulk."""
        from core.extensions import db

        errors = {}
        self.waybill_no = (self.waybill_no or "").strip().upper()
        if not self.waybill_no:
            errors["waybill_no"] = str(_l("required"))
        elif not self.waybill_no.isalnum() or len(self.waybill_no) < 8:
            errors["waybill_no"] = str(_l("a waybill number has at least 8 letters or digits"))
        elif check_clash:
            clash = select(Shipment.id).where(Shipment.carrier == (self.carrier or "CRM"),
                                              Shipment.waybill_no == self.waybill_no)
            if self.id is not None:
                clash = clash.where(Shipment.id != self.id)
            with db.session.no_autoflush:
                if db.session.execute(clash.limit(1)).first() is not None:
                    errors["waybill_no"] = str(_l("waybill %(number)s already exists", number=self.waybill_no))
        if self.service_product not in choices.SERVICE_PRODUCTS:
            errors["service_product"] = str(_l("not one of: %(values)s", values=", ".join(choices.SERVICE_PRODUCTS)))
        if self.status not in STATUSES:
            errors["status"] = str(_l("not one of: %(values)s", values=", ".join(STATUSES)))
        for field in ("weight_kg", "fee", "declared_value"):
            value = getattr(self, field)
            if value is not None and Decimal(str(value)) < 0:
                errors[field] = str(_l("cannot be negative"))
        problem = future_problem(self.created_at)
        if problem:
            errors["created_at"] = problem
        if self.promised_at and self.created_at and self.promised_at < self.created_at:
            errors["promised_at"] = str(_l("cannot be before the shipment was created"))
        problem = district_problem(self.receiver_district_code)
        if problem:
            errors["receiver_district_code"] = problem
        if self.customer is not None and self.customer.franchise_id not in (None, self.franchise_id) \
                and self.franchise_id is not None:
            errors["customer"] = str(_l("the customer belongs to another franchise"))
        return errors


class TrackingEvent(InFranchise, Model):
    """One scan or status report of a shipment, with the provider's code and text kept verbatim."""

    __tablename__ = "crm_tracking_event"
    __crm_label__ = _l("Tracking event")
    __table_args__ = (
        # providers resend the whole trace on every push: the same event must land once
        UniqueConstraint("shipment_id", "provider", "occurred_at", "raw_code", name="uq_crm_tracking_event"),
        Index("ix_crm_tracking_event_shipment", "shipment_id", "occurred_at"),
        Index("ix_crm_tracking_event_franchise_occurred", "franchise_id", "occurred_at"),
    )

    id = Column(Integer, primary_key=True)
    shipment_id = Column(Integer, ForeignKey("crm_shipment.id"), nullable=False)
    shipment = relationship(Shipment, backref="events")
    occurred_at = Column(DateTime, nullable=False)
    status = Column(String(24), nullable=False)
    provider = Column(String(32), nullable=False, default="manual")
    raw_code = Column(String(32), nullable=False, default="")
    raw_text = Column(Text)
    location = Column(String(128))
    source = Column(String(16), nullable=False, default="manual")
    received_at = Column(DateTime, nullable=False, default=utcnow)

    def __repr__(self):
        return f"{self.shipment} {self.status}"

    def validation_errors(self) -> dict[str, str]:
        errors = {}
        if self.status not in STATUSES:
            errors["status"] = str(_l("not one of: %(values)s", values=", ".join(STATUSES)))
        if self.occurred_at is None:
            errors["occurred_at"] = str(_l("required"))
        else:
            problem = future_problem(self.occurred_at)
            if problem:
                errors["occurred_at"] = problem
        return errors
