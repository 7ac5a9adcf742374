"""The commercial relationship with a customer: contracts and the record of every conversation."""

from __future__ import annotations

from decimal import Decimal

from flask_appbuilder import Model
from flask_appbuilder.security.sqla.models import User
from flask_babel import lazy_gettext as _l
from sqlalchemy import Column, Date, DateTime, ForeignKey, Index, Integer, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import relationship

from core.clock import utcnow
from core.lowcode.models import CustomFieldsMixin
from core.models import choices
from core.models.customer import Customer
from core.models.shipment import future_problem
from core.tenancy import InFranchise


class Contract(InFranchise, CustomFieldsMixin, Model):
    """A business customer's agreement: a price table or a discount, valid from start to end."""

    __tablename__ = "crm_contract"
    __crm_label__ = _l("Contract")
    __audited__ = True
    __table_args__ = (
        UniqueConstraint("franchise_id", "number", name="uq_crm_contract_number"),
        Index("ix_crm_contract_customer", "customer_id"),
    )

    id = Column(Integer, primary_key=True)
    customer_id = Column(Integer, ForeignKey("crm_customer.id"), nullable=False)
    customer = relationship(Customer, backref="contracts")
    number = Column(String(64), nullable=False)
    price_table = Column(Text)  # one "zone or weight band: price" per line, as sales agreed it
    discount_percent = Column(Numeric(5, 2))
    start_date = Column(Date, nullable=False)
    end_date = Column(Date)
    status = Column(String(16), nullable=False, default="draft")
    note = Column(Text)
    created_at = Column(DateTime, nullable=False, default=utcnow)

    def __repr__(self):
        return self.number or ""

    def validation_errors(self) -> dict[str, str]:
        errors = {}
        if not (self.number or "").strip():
            errors["number"] = str(_l("required"))
        if self.customer is not None and not self.customer.is_business:
            errors["customer"] = str(_l("contracts are for business customers"))
        if self.start_date is None:
            errors["start_date"] = str(_l("required"))
        elif self.end_date is not None and self.end_date < self.start_date:
            errors["end_date"] = str(_l("cannot be before the start date"))
        if self.discount_percent is not None and not (0 <= Decimal(str(self.discount_percent)) <= 100):
            errors["discount_percent"] = str(_l("must be between 0 and 100"))
        if self.status not in choices.CONTRACT_STATUSES:
            errors["status"] = str(_l("not one of: %(values)s", values=", ".join(choices.CONTRACT_STATUSES)))
        return errors


class CommunicationRecord(InFranchise, CustomFieldsMixin, Model):
    """A conversation with a customer on the standard template: issues, agreement, next action."""

    __tablename__ = "crm_communication"
    __crm_label__ = _l("Communication record")
    __audited__ = True
    # what a customer said is personal data: the log records that it changed, not the words
    __audit_redact__ = {"key_issues", "agreement", "next_action"}
    __table_args__ = (Index("ix_crm_communication_customer", "customer_id", "occurred_at"),
                      Index("ix_crm_communication_franchise_due", "franchise_id", "next_action_due"))

    id = Column(Integer, primary_key=True)
    customer_id = Column(Integer, ForeignKey("crm_customer.id"), nullable=False)
    customer = relationship(Customer, backref="communications")
    occurred_at = Column(DateTime, nullable=False, default=utcnow)
    channel = Column(String(16), nullable=False, default="phone")
    topic = Column(String(200), nullable=False)
    key_issues = Column(Text)
    agreement = Column(Text)
    next_action = Column(Text)
    next_action_due = Column(Date)
    author_id = Column(Integer, ForeignKey("ab_user.id"), nullable=True)
    author = relationship(User, foreign_keys=[author_id])
    created_at = Column(DateTime, nullable=False, default=utcnow)

    def __repr__(self):
        return self.topic or ""

    def validation_errors(self) -> dict[str, str]:
        errors = {}
        if not (self.topic or "").strip():
            errors["topic"] = str(_l("required"))
        if self.channel not in choices.COMMUNICATION_CHANNELS:
            errors["channel"] = str(_l("not one of: %(values)s", values=", ".join(choices.COMMUNICATION_CHANNELS)))
        problem = future_problem(self.occurred_at)
        if problem:
            errors["occurred_at"] = problem
        if self.next_action_due is not None and self.occurred_at is not None \
                and self.next_action_due < self.occurred_at.date():
            errors["next_action_due"] = str(_l("cannot be before the conversation"))
        if self.next_action_due is not None and not (self.next_action or "").strip():
            errors["next_action"] = str(_l("say what is due"))
        return errors
