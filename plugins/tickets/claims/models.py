"""Claims for lost or damaged parcels: amounts, evidence, approval within role limits, payout and the
charge-back to the responsible franchise (which sees the claim too)."""

from __future__ import annotations

from flask_appbuilder import Model
from flask_appbuilder.security.sqla.models import User
from flask_babel import lazy_gettext as _l
from sqlalchemy import (Column, DateTime, ForeignKey, Index, Integer, LargeBinary, Numeric, String, Text,
                        UniqueConstraint)
from sqlalchemy.orm import relationship

from core.clock import utcnow
from core.models import Shipment
from core.tenancy import Franchise, InFranchise
from plugins.tickets.models import Ticket

CLAIM_STATUSES = {"submitted": _l("Submitted"), "assessed": _l("Assessed"), "approved": _l("Approved"),
                  "rejected": _l("Rejected"), "paid": _l("Compensation paid")}
PAYOUT_METHODS = {"transfer": _l("Bank transfer"), "wallet": _l("Wallet credit"), "coupon": _l("Coupon"),
                  "credit_note": _l("Credit note (monthly bill)")}
CHARGEBACK_STATUSES = {"none": _l("None"), "pending": _l("Pending"), "accepted": _l("Accepted by the franchise"),
                       "disputed": _l("Disputed"), "settled": _l("Settled")}


class Claim(InFranchise, Model):
    __tablename__ = "tk_claim"
    __crm_label__ = _l("Claim")
    __audited__ = True
    # the charged franchise sees the claim; naming it is not reaching into its data
    __open_references__ = ("responsible_franchise", "shipment")
    __table_args__ = (Index("ix_tk_claim_franchise_status", "franchise_id", "status"),
                      Index("ix_tk_claim_responsible", "responsible_franchise_id", "status"),
                      Index("ix_tk_claim_ticket", "ticket_id"))

    id = Column(Integer, primary_key=True)
    ticket_id = Column(Integer, ForeignKey("tk_ticket.id", ondelete="CASCADE"), nullable=False)
    ticket = relationship(Ticket, backref="claims")
    shipment_id = Column(Integer, ForeignKey("crm_shipment.id"), nullable=True)
    shipment = relationship(Shipment)
    status = Column(String(10), nullable=False, default="submitted")
    requested_amount = Column(Numeric(12, 2), nullable=False)
    declared_value = Column(Numeric(12, 2))  # the shipment's, when the claim was made
    assessed_amount = Column(Numeric(12, 2))
    assessment_note = Column(Text)
    assessed_by_id = Column(Integer, ForeignKey("ab_user.id"), nullable=True)
    assessed_by = relationship(User, foreign_keys=[assessed_by_id])
    approved_by_id = Column(Integer, ForeignKey("ab_user.id"), nullable=True)
    approved_by = relationship(User, foreign_keys=[approved_by_id])
    approved_at = Column(DateTime)
    rejection_reason = Column(Text)
    paid_amount = Column(Numeric(12, 2))
    payout_method = Column(String(12))
    paid_at = Column(DateTime)
    responsible_franchise_id = Column(Integer, ForeignKey("crm_franchise.id"), nullable=True)
    responsible_franchise = relationship(Franchise, foreign_keys=[responsible_franchise_id])
    chargeback_amount = Column(Numeric(12, 2))
    chargeback_status = Column(String(10), nullable=False, default="none")
    created_at = Column(DateTime, nullable=False, default=utcnow)
    created_by_id = Column(Integer, ForeignKey("ab_user.id"), nullable=True)

    def __repr__(self):
        return f"C{self.id:08d}" if self.id else ""

    @property
    def number(self) -> str:
        return repr(self)


class ClaimEvidence(InFranchise, Model):
    """A photo or document for a claim (packaging, weight slip, invoice), kept in the database."""

    __tablename__ = "tk_claim_evidence"
    __crm_label__ = _l("Claim evidence")
    __table_args__ = (Index("ix_tk_claim_evidence_claim", "claim_id"),)

    id = Column(Integer, primary_key=True)
    claim_id = Column(Integer, ForeignKey("tk_claim.id", ondelete="CASCADE"), nullable=False)
    claim = relationship(Claim, backref="evidence")
    filename = Column(String(200), nullable=False)
    content_type = Column(String(100), nullable=False)
    size = Column(Integer, nullable=False)
    content = Column(LargeBinary, nullable=False)
    uploaded_by_id = Column(Integer, ForeignKey("ab_user.id"), nullable=True)
    uploaded_at = Column(DateTime, nullable=False, default=utcnow)


class ClaimApprovalLimit(InFranchise, Model):
    """The largest amount a role may approve in a franchise; above every limit only HQ approves."""

    __tablename__ = "tk_claim_limit"
    __crm_label__ = _l("Claim approval limit")
    __audited__ = True
    __table_args__ = (UniqueConstraint("franchise_id", "role_name", name="uq_tk_claim_limit"),)

    id = Column(Integer, primary_key=True)
    role_name = Column(String(64), nullable=False)
    max_amount = Column(Numeric(12, 2), nullable=False)

    def validation_errors(self) -> dict[str, str]:
        errors = {}
        self.role_name = (self.role_name or "").strip()
        if not self.role_name:
            errors["role_name"] = str(_l("required"))
        if self.max_amount is None:
            errors["max_amount"] = str(_l("required"))
        elif self.max_amount < 0:
            errors["max_amount"] = str(_l("must be 0 or more"))
        return errors
