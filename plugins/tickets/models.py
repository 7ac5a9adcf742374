"""Tickets, their timeline, the franchises invited to work one, and the alerts agents get.

A ticket belongs to the franchise that owns it; the other franchise of its parcel (origin or destination)
sees it only when invited as a participant (`TicketParticipant`), never by widening its scope.
"""

from __future__ import annotations

from flask_appbuilder import Model
from flask_appbuilder.security.sqla.models import User
from flask_babel import lazy_gettext as _l
from sqlalchemy import (JSON, Boolean, Column, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint,
                        select)
from sqlalchemy.orm import relationship

from core.clock import utcnow
from core.lowcode.models import CustomFieldsMixin
from core.models import Customer, Shipment
from core.privacy import PersonalValue, blind_index_column, encrypted_column, mask_name
from core.tenancy import Franchise, InFranchise
from plugins.tickets import choices


class Ticket(InFranchise, CustomFieldsMixin, Model):
    __tablename__ = "tk_ticket"
    __crm_label__ = _l("Ticket")
    __audited__ = True
    __audit_redact__ = {"reporter_name", "reporter_phone_enc", "reporter_phone_hash"}
    # the clocks and counters move with every event; the timeline records them, the audit log need not
    __audit_ignore__ = {"first_response_due", "resolution_due", "next_due_at", "sla_paused", "sla_state", "updated_at",
                        "last_customer_reply_at", "last_agent_reply_at", "escalation_level"}
    __personal_names__ = ("reporter_name",)
    # the parcel may belong to the other franchise of the route: naming it is not reaching into its data
    __open_references__ = ("shipment",)
    __table_args__ = (
        # the queues: "my tickets" and "my team's unassigned", open ones sorted by the next due time
        Index("ix_tk_ticket_assignee_open_due", "assignee_id", "is_open", "next_due_at"),
        Index("ix_tk_ticket_team_open_due", "team_id", "is_open", "assignee_id", "next_due_at"),
        Index("ix_tk_ticket_franchise_created", "franchise_id", "created_at"),
        # the SLA scan: running clocks of a franchise by their next due time
        Index("ix_tk_ticket_franchise_open_due", "franchise_id", "is_open", "next_due_at"),
        Index("ix_tk_ticket_shipment", "shipment_id", "is_open"),
        Index("ix_tk_ticket_customer", "customer_id", "created_at"),
        Index("ix_tk_ticket_reporter_phone", "reporter_phone_hash"),
        Index("ix_tk_ticket_waybill", "waybill_no"),
    )

    id = Column(Integer, primary_key=True)
    type = Column(String(16), nullable=False, default="inquiry")
    category = Column(String(20))  # complaints (and exceptions): delay, lost, damaged ...
    priority = Column(String(8), nullable=False, default="normal")
    channel = Column(String(8), nullable=False, default="phone")
    status = Column(String(12), nullable=False, default="new")
    # denormalised status category: one boolean the queue indexes lead with
    is_open = Column(Boolean, nullable=False, default=True)
    subject = Column(String(200), nullable=False)
    description = Column(Text)

    customer_id = Column(Integer, ForeignKey("crm_customer.id"), nullable=True)
    customer = relationship(Customer)
    shipment_id = Column(Integer, ForeignKey("crm_shipment.id"), nullable=True)
    shipment = relationship(Shipment)
    waybill_no = Column(String(32))
    # who raised it: the sender, the receiver (often not a customer record) or someone else
    reporter_role = Column(String(8), nullable=False, default="sender")
    reporter_name = Column(String(64))
    reporter_phone_enc = encrypted_column("reporter_phone")
    reporter_phone_hash = blind_index_column("reporter_phone")
    # routing facts captured at intake: the customer's tier (tiering plugin, by hook) and the area
    customer_tier = Column(String(8))
    district_code = Column(String(6))
    transfer_centre = Column(String(64))
    exception_kind = Column(String(24))

    team_id = Column(Integer, ForeignKey("tk_team.id"), nullable=True)
    team = relationship("Team")
    assignee_id = Column(Integer, ForeignKey("ab_user.id"), nullable=True)
    assignee = relationship(User, foreign_keys=[assignee_id])

    # SLA: derived from the timeline by plugins.tickets.sla (recomputed when policy or calendar change)
    sla_policy_id = Column(Integer, ForeignKey("tk_sla_policy.id"), nullable=True)
    sla_policy = relationship("SlaPolicy")
    first_response_due = Column(DateTime)
    resolution_due = Column(DateTime)
    # what the queues sort by: the first-response due until the first reply, then the resolution due;
    # none while paused or done (those sort last)
    next_due_at = Column(DateTime)
    sla_paused = Column(Boolean, nullable=False, default=False)
    sla_state = Column(String(10), nullable=False, default="ok")  # ok, warned, breached
    escalation_level = Column(Integer, nullable=False, default=0)
    first_responded_at = Column(DateTime)
    first_response_breached = Column(Boolean, nullable=False, default=False)
    resolution_breached = Column(Boolean, nullable=False, default=False)
    # complaints: the regulator's 7 calendar days to answer
    regulatory_due = Column(DateTime)

    resolution_code = Column(String(20))
    resolution_note = Column(Text)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    updated_at = Column(DateTime, nullable=False, default=utcnow)
    resolved_at = Column(DateTime)
    closed_at = Column(DateTime)
    reopened_count = Column(Integer, nullable=False, default=0)
    last_customer_reply_at = Column(DateTime)
    last_agent_reply_at = Column(DateTime)
    created_by_id = Column(Integer, ForeignKey("ab_user.id"), nullable=True)
    created_by = relationship(User, foreign_keys=[created_by_id])

    reporter_phone = PersonalValue("phone", searchable=True)

    def __repr__(self):
        return self.number

    @property
    def number(self) -> str:
        return f"T{self.id:08d}" if self.id else ""

    @property
    def reporter_masked(self) -> str:
        return mask_name(self.reporter_name)

    @property
    def type_label(self) -> str:
        return choices.label(choices.TYPES, self.type)

    @property
    def status_label(self) -> str:
        return choices.label(choices.STATUSES, self.status)


class TicketEvent(InFranchise, Model):
    """One line of a ticket's timeline: who did what when. Notes are internal; replies reach the customer.

    The SLA clocks are derived from these rows (status changes give the pauses, the first reply the
    first response), so a new policy or calendar recomputes the due times without guessing.
    """

    __tablename__ = "tk_ticket_event"
    __crm_label__ = _l("Ticket event")
    __table_args__ = (Index("ix_tk_ticket_event_ticket", "ticket_id", "at"),)

    id = Column(Integer, primary_key=True)
    ticket_id = Column(Integer, ForeignKey("tk_ticket.id", ondelete="CASCADE"), nullable=False)
    ticket = relationship(Ticket, backref="events")
    at = Column(DateTime, nullable=False, default=utcnow)
    user_id = Column(Integer, ForeignKey("ab_user.id"), nullable=True)  # none: the system or the customer
    user = relationship(User)
    kind = Column(String(16), nullable=False)
    internal = Column(Boolean, nullable=False, default=True)
    body = Column(Text)
    # what changed: {"from": .., "to": ..} for status, priority, team, assignee; other facts per kind
    data = Column(JSON)

    def __repr__(self):
        return f"{self.kind} {self.at:%Y-%m-%d %H:%M}"


class TicketParticipant(InFranchise, Model):
    """Another franchise invited to work a ticket (the parcel's origin or destination): it sees that ticket
    only. `franchise_id` is the ticket's owner (who invited); `participant_franchise_id` the invited one."""

    __tablename__ = "tk_ticket_participant"
    __crm_label__ = _l("Ticket participant")
    __open_references__ = ("participant_franchise",)
    __table_args__ = (
        UniqueConstraint("ticket_id", "participant_franchise_id", name="uq_tk_ticket_participant"),
        Index("ix_tk_ticket_participant_franchise", "participant_franchise_id", "ticket_id"),
    )

    id = Column(Integer, primary_key=True)
    ticket_id = Column(Integer, ForeignKey("tk_ticket.id", ondelete="CASCADE"), nullable=False)
    ticket = relationship(Ticket, backref="participants")
    participant_franchise_id = Column(Integer, ForeignKey("crm_franchise.id"), nullable=False)
    participant_franchise = relationship(Franchise, foreign_keys=[participant_franchise_id])
    role = Column(String(12), nullable=False, default="destination")  # origin, destination
    invited_by_id = Column(Integer, ForeignKey("ab_user.id"), nullable=True)
    invited_at = Column(DateTime, nullable=False, default=utcnow)


class ExceptionTicketLink(InFranchise, Model):
    """The ticket that took a shipment's exception of one kind: its unique key makes the exception event
    open (or attach to) a ticket exactly once, however often the event is delivered."""

    __tablename__ = "tk_exception_link"
    __table_args__ = (UniqueConstraint("shipment_id", "kind", name="uq_tk_exception_link"),)

    id = Column(Integer, primary_key=True)
    shipment_id = Column(Integer, ForeignKey("crm_shipment.id", ondelete="CASCADE"), nullable=False)
    kind = Column(String(24), nullable=False)
    ticket_id = Column(Integer, ForeignKey("tk_ticket.id", ondelete="CASCADE"), nullable=False)
    event_id = Column(String(64))
    created_at = Column(DateTime, nullable=False, default=utcnow)


class AgentAlert(InFranchise, Model):
    """Something an agent or team lead should look at: SLA warning, breach, escalation, a new assignment."""

    __tablename__ = "tk_agent_alert"
    __crm_label__ = _l("Ticket alert")
    __table_args__ = (Index("ix_tk_agent_alert_user_unread", "user_id", "read_at", "created_at"),)

    id = Column(Integer, primary_key=True)
    user_id = Column(Integer, ForeignKey("ab_user.id", ondelete="CASCADE"), nullable=False)
    user = relationship(User)
    ticket_id = Column(Integer, ForeignKey("tk_ticket.id", ondelete="CASCADE"), nullable=False)
    ticket = relationship(Ticket)
    kind = Column(String(16), nullable=False)  # sla_warning, sla_breach, escalated, assigned
    message = Column(String(255))
    created_at = Column(DateTime, nullable=False, default=utcnow)
    read_at = Column(DateTime)


def open_ticket_for_shipment(session, shipment_id: int):
    """The open ticket on a parcel (oldest first), which a new report attaches to instead of duplicating."""
    query = (select(Ticket).where(Ticket.shipment_id == shipment_id, Ticket.is_open.is_(True))
             .order_by(Ticket.created_at, Ticket.id).limit(1))
    return session.scalars(query).first()


# Ticket's relations name the team and the SLA policy by string: load their models with it, so mappers
# configure whichever part is imported first
from plugins.tickets.routing import models as _routing_models  # noqa: E402,F401
from plugins.tickets.sla import models as _sla_models  # noqa: E402,F401
