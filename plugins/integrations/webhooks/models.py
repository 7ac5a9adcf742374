"""Webhook subscriptions (a URL per franchise and the events it wants) and their deliveries (the log)."""

from __future__ import annotations

import secrets

from flask_appbuilder import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import (JSON, Boolean, Column, DateTime, Float, ForeignKey, Index, Integer, String, Text,
                        UniqueConstraint)
from sqlalchemy.orm import relationship

from core.clock import utcnow
from core.privacy import vault
from core.tenancy import InFranchise
from plugins.integrations.webhooks.http import url_problem

ALL_EVENTS = "*"
TEST_EVENT = "webhook.test"

# The domain events other plugins and core emit (core.events.emit), as subscribers choose them.
EVENTS = {
    "shipment.exception": _l("Shipment exception"),
    "shipment.delivered": _l("Shipment delivered"),
    "ticket.created": _l("Ticket created"),
    "ticket.resolved": _l("Ticket resolved"),
    "ticket.closed": _l("Ticket closed"),
    "ticket.sla_breached": _l("Ticket SLA breached"),
    "survey.answered": _l("Survey answered"),
    "tier.changed": _l("Customer tier changed"),
    "customers.merged": _l("Customers merged"),
    "customers.merge_undone": _l("Customer merge undone"),
}

DELIVERY_STATUSES = {
    "pending": _l("pending"), "sending": _l("sending"), "delivered": _l("delivered"),
    "retrying": _l("retrying"), "failed": _l("failed"), "cancelled": _l("cancelled"),
}


def event_label(code: str) -> str:
    if code == ALL_EVENTS:
        return str(_l("All events"))
    if code == TEST_EVENT:
        return str(_l("Test event"))
    return str(EVENTS.get(code, code))


def generate_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def _encrypted_new_secret() -> str:
    return vault().encrypt(generate_secret())


class WebhookSubscription(InFranchise, Model):
    """A partner's URL that receives the chosen events of one franchise, signed with its own secret."""

    __tablename__ = "integ_webhook_subscription"
    __audited__ = True
    __audit_kind__ = "config"
    __table_args__ = (Index("ix_integ_webhook_subscription_franchise", "franchise_id", "active"),)

    id = Column(Integer, primary_key=True)
    name = Column(String(100), nullable=False)
    url = Column(String(1000), nullable=False)
    # comma separated event codes, or "*" for every event
    events = Column(String(1000), nullable=False, default=ALL_EVENTS)
    # generated on create, whichever way the row is made; the admin reveals it (audited) to set up the receiver
    secret_enc = Column(Text, nullable=False, default=_encrypted_new_secret)
    active = Column(Boolean, nullable=False, default=True)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    updated_at = Column(DateTime, nullable=False, default=utcnow, onupdate=utcnow)

    def __repr__(self):
        return self.name or ""

    @property
    def event_list(self) -> list[str]:
        return [e.strip() for e in (self.events or "").split(",") if e.strip()]

    def wants(self, event: str) -> bool:
        chosen = self.event_list
        return ALL_EVENTS in chosen or event in chosen

    @property
    def secret(self) -> str:
        """The signing secret in plaintext: for signing, and for the audited reveal."""
        return vault().decrypt(self.secret_enc)

    def new_secret(self) -> str:
        value = generate_secret()
        self.secret_enc = vault().encrypt(value)
        return value

    def validation_errors(self) -> dict[str, str]:
        errors = {}
        if not (self.name or "").strip():
            errors["name"] = str(_l("required"))
        self.url = (self.url or "").strip()
        problem = url_problem(self.url)
        if problem:
            errors["url"] = problem
        chosen = self.event_list
        unknown = [e for e in chosen if e != ALL_EVENTS and e not in EVENTS]
        if not chosen:
            errors["events"] = str(_l("choose at least one event, or all events"))
        elif unknown:
            errors["events"] = str(_l("unknown events: %(names)s", names=", ".join(unknown)))
        return errors


class WebhookDelivery(InFranchise, Model):
    """One event for one subscription: its body, where its tries stand, and what the receiver answered."""

    __tablename__ = "integ_webhook_delivery"
    __table_args__ = (
        # a domain event delivered twice by the outbox finds its delivery instead of adding one
        UniqueConstraint("subscription_id", "idempotency_key", name="uq_integ_webhook_delivery_key"),
        Index("ix_integ_webhook_delivery_franchise_created", "franchise_id", "created_at"),
        Index("ix_integ_webhook_delivery_due", "status", "next_attempt_at"),
    )

    id = Column(Integer, primary_key=True)
    # the id receivers see (X-CRM-Delivery): the same for every try, so they can drop repeats
    uid = Column(String(36), nullable=False, unique=True)
    subscription_id = Column(Integer, ForeignKey("integ_webhook_subscription.id"), nullable=False, index=True)
    subscription = relationship(WebhookSubscription)
    event = Column(String(64), nullable=False)
    idempotency_key = Column(String(64), nullable=False)
    payload = Column(JSON, nullable=False, default=dict)
    status = Column(String(16), nullable=False, default="pending")
    attempts = Column(Integer, nullable=False, default=0)
    next_attempt_at = Column(DateTime)
    last_response_code = Column(Integer)
    response_excerpt = Column(String(500))
    last_error = Column(Text)
    duration_ms = Column(Float)
    # every try: [{"at", "code", "error", "ms"}], newest last, capped
    history = Column(JSON, nullable=False, default=list)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    last_attempt_at = Column(DateTime)
    delivered_at = Column(DateTime)

    def __repr__(self):
        return f"{self.event} → {self.subscription}"
