"""The message log: every message asked for, sent or not, and why."""

from __future__ import annotations

from flask_appbuilder import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, Column, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import relationship

from core.clock import utcnow
from core.models import Customer
from core.privacy import PersonalValue, encrypted_column
from core.tenancy import InFranchise

CHANNELS = {"sms": _l("SMS"), "wechat": _l("WeChat template message")}
# service notices rest on the contract; surveys and marketing on consent, which an opt-out withdraws
PURPOSES = {"service": _l("Service notice"), "survey": _l("Survey"), "marketing": _l("Marketing")}
CONSENT_PURPOSES = ("survey", "marketing")
MESSAGE_STATUSES = {
    "queued": _l("queued"), "sending": _l("sending"), "sent": _l("sent"), "opted_out": _l("opted out"),
    "rate_limited": _l("over the daily limit"), "no_recipient": _l("no phone number"), "failed": _l("failed"),
}
# what counts towards the daily limit: messages that went, or are about to go, to the customer
COUNTED_STATUSES = ("queued", "sending", "sent")


class Message(InFranchise, Model):
    __tablename__ = "integ_message"
    __table_args__ = (
        Index("ix_integ_message_customer_created", "franchise_id", "customer_id", "created_at"),
        Index("ix_integ_message_franchise_created", "franchise_id", "created_at"),
    )
    __audit_redact__ = {"recipient_enc"}

    id = Column(Integer, primary_key=True)
    # a plain foreign key: core's merge moves the log with the customer
    customer_id = Column(Integer, ForeignKey("crm_customer.id"), nullable=False)
    customer = relationship(Customer)
    channel = Column(String(16), nullable=False)
    template = Column(String(64), nullable=False)
    params = Column(JSON, nullable=False, default=dict)
    purpose = Column(String(16), nullable=False)
    status = Column(String(16), nullable=False, default="queued")
    backend = Column(String(16))
    provider_message_id = Column(String(128))
    error = Column(Text)
    recipient_enc = encrypted_column("recipient")
    created_at = Column(DateTime, nullable=False, default=utcnow)
    sent_at = Column(DateTime)

    recipient = PersonalValue("phone")

    def __repr__(self):
        return f"{self.channel}:{self.template}#{self.id}"
