"""Callbacks (回访) after a ticket closes: the rules that create them and the tasks with attempts and outcome."""

from __future__ import annotations

from flask_appbuilder import Model
from flask_appbuilder.security.sqla.models import User
from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, Boolean, Column, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import relationship

from core.clock import utcnow
from core.models import Customer
from core.tenancy import InFranchise
from plugins.tickets import choices
from plugins.tickets.conditions import list_errors
from plugins.tickets.models import Ticket

CALLBACK_STATUSES = {"open": _l("Open"), "done": _l("Done"), "failed": _l("Failed"), "cancelled": _l("Cancelled")}
CALLBACK_OUTCOMES = {"satisfied": _l("Satisfied"), "neutral": _l("Neutral"), "dissatisfied": _l("Dissatisfied"),
                     "no_answer": _l("No answer"), "wrong_number": _l("Wrong number"),
                     "refused": _l("Refused the call")}


class CallbackRule(InFranchise, Model):
    """When a ticket matching these lists (empty = any) closes, a callback is due `delay_hours` later."""

    __tablename__ = "tk_callback_rule"
    __crm_label__ = _l("Callback rule")
    __audited__ = True

    id = Column(Integer, primary_key=True)
    name = Column(String(100), nullable=False)
    active = Column(Boolean, nullable=False, default=True)
    types = Column(JSON)
    categories = Column(JSON)
    priorities = Column(JSON)
    resolution_codes = Column(JSON)
    delay_hours = Column(Integer, nullable=False, default=24)

    def __repr__(self):
        return self.name or ""

    def validation_errors(self) -> dict[str, str]:
        errors = {}
        self.name = (self.name or "").strip()
        if not self.name:
            errors["name"] = str(_l("required"))
        if self.delay_hours is None or not 0 <= self.delay_hours <= 24 * 60:
            errors["delay_hours"] = str(_l("between 0 and %(most)d hours", most=24 * 60))
        errors.update(list_errors(self, (("types", choices.TYPES), ("categories", choices.CATEGORIES),
                                         ("priorities", choices.PRIORITIES),
                                         ("resolution_codes", choices.RESOLUTION_CODES))))
        return errors


class CallbackTask(InFranchise, Model):
    __tablename__ = "tk_callback"
    __crm_label__ = _l("Callback")
    __audited__ = True
    __table_args__ = (UniqueConstraint("ticket_id", "rule_id", name="uq_tk_callback_ticket_rule"),
                      Index("ix_tk_callback_assignee_status_due", "assignee_id", "status", "due_at"),
                      Index("ix_tk_callback_franchise_status_due", "franchise_id", "status", "due_at"))

    id = Column(Integer, primary_key=True)
    ticket_id = Column(Integer, ForeignKey("tk_ticket.id", ondelete="CASCADE"), nullable=False)
    ticket = relationship(Ticket, backref="callbacks")
    rule_id = Column(Integer, ForeignKey("tk_callback_rule.id", ondelete="SET NULL"), nullable=True)
    rule = relationship(CallbackRule)
    customer_id = Column(Integer, ForeignKey("crm_customer.id"), nullable=True)
    customer = relationship(Customer)
    assignee_id = Column(Integer, ForeignKey("ab_user.id"), nullable=True)
    assignee = relationship(User)
    due_at = Column(DateTime, nullable=False)
    status = Column(String(10), nullable=False, default="open")
    attempts = Column(Integer, nullable=False, default=0)
    outcome = Column(String(16))
    note = Column(Text)
    call_record_url = Column(String(500))
    done_at = Column(DateTime)
    created_at = Column(DateTime, nullable=False, default=utcnow)

    def __repr__(self):
        return f"{self.ticket!r} {self.due_at:%Y-%m-%d %H:%M}" if self.due_at else ""
