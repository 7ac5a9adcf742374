"""E-commerce shops a franchise pulls orders from, and the orders pulled."""

from __future__ import annotations

from flask_appbuilder import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import Boolean, Column, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint, select
from sqlalchemy.orm import relationship

from core import divisions
from core.clock import utcnow
from core.models import Customer, Shipment
from core.privacy import MASKS, PersonalValue, blind_index_column, encrypted_column, mask_name, vault
from core.tenancy import InFranchise
from plugins.integrations.orders.platforms import ADAPTERS, PLATFORMS

OUTCOMES = {"ok": _l("OK"), "failed": _l("Failed")}


class OrderShop(InFranchise, Model):
    """A shop on Taobao/Tmall, Pinduoduo or JD, belonging to a business customer, with its API credentials
    (encrypted) and where its order pull stands."""

    __tablename__ = "integ_order_shop"
    __crm_label__ = _l("E-commerce shop")
    __audited__ = True
    __audit_redact__ = {"app_secret_enc", "access_token_enc"}
    # the pull's bookkeeping is not a change anybody made
    __audit_ignore__ = {"pulled_until", "window_end", "next_page", "last_pull_at", "last_outcome", "last_error",
                        "orders_pulled"}
    __table_args__ = (
        UniqueConstraint("franchise_id", "platform", "app_key", name="uq_integ_order_shop_key"),
        Index("ix_integ_order_shop_franchise_active", "franchise_id", "active"),
    )

    id = Column(Integer, primary_key=True)
    platform = Column(String(8), nullable=False)
    name = Column(String(128), nullable=False)
    app_key = Column(String(64), nullable=False)
    app_secret_enc = Column(Text)
    access_token_enc = Column(Text)
    base_url = Column(String(255))
    customer_id = Column(Integer, ForeignKey("crm_customer.id"), nullable=False)
    customer = relationship(Customer)
    active = Column(Boolean, nullable=False, default=True)
    # the cursor: everything modified before `pulled_until` is in; the window (pulled_until - overlap,
    # window_end] is being pulled and `next_page` is the first page of it not yet stored
    pulled_until = Column(DateTime)
    window_end = Column(DateTime)
    next_page = Column(Integer, nullable=False, default=1)
    last_pull_at = Column(DateTime)
    last_outcome = Column(String(8))
    last_error = Column(Text)
    orders_pulled = Column(Integer, nullable=False, default=0)
    created_at = Column(DateTime, nullable=False, default=utcnow)

    def __repr__(self):
        return f"{self.name} ({PLATFORMS.get(self.platform, self.platform)})"

    # secrets: set in plain text, stored encrypted, read only by the pull; a blank value keeps the stored one
    @property
    def app_secret(self) -> str | None:
        return vault().decrypt(self.app_secret_enc)

    @app_secret.setter
    def app_secret(self, value):
        if value not in (None, ""):
            self.app_secret_enc = vault().encrypt(str(value).strip())

    @property
    def access_token(self) -> str | None:
        return vault().decrypt(self.access_token_enc)

    @access_token.setter
    def access_token(self, value):
        if value not in (None, ""):
            self.access_token_enc = vault().encrypt(str(value).strip())

    @property
    def platform_label(self) -> str:
        return PLATFORMS.get(self.platform, self.platform or "")

    @property
    def outcome_label(self) -> str:
        return str(OUTCOMES.get(self.last_outcome, "")) if self.last_outcome else ""

    def validation_errors(self) -> dict[str, str]:
        errors = {}
        if self.platform not in ADAPTERS:
            errors["platform"] = str(_l("not one of: %(values)s", values=", ".join(ADAPTERS)))
        if not (self.name or "").strip():
            errors["name"] = str(_l("required"))
        if not (self.app_key or "").strip():
            errors["app_key"] = str(_l("required"))
        else:
            self.app_key = self.app_key.strip()
            if self.franchise_id is not None and self._same_shop_exists():
                errors["app_key"] = str(_l("this shop is already set up in this franchise"))
        if not self.app_secret_enc:
            errors["app_secret"] = str(_l("required"))
        if self.base_url and not self.base_url.strip().lower().startswith(("http://", "https://")):
            errors["base_url"] = str(_l("an http:// or https:// address"))
        customer = self.customer
        if customer is None:
            errors["customer"] = str(_l("required"))
        elif customer.kind != "B":
            errors["customer"] = str(_l("must be a business (B) customer: a shop belongs to a business"))
        elif self.franchise_id is not None and customer.franchise_id != self.franchise_id:
            errors["customer"] = str(_l("belongs to another franchise than the shop"))
        return errors

    def _same_shop_exists(self) -> bool:
        from core.extensions import db

        query = select(OrderShop.id).where(OrderShop.franchise_id == self.franchise_id,
                                           OrderShop.platform == self.platform, OrderShop.app_key == self.app_key)
        if self.id is not None:
            query = query.where(OrderShop.id != self.id)
        with db.session.no_autoflush:
            return db.session.execute(query.limit(1)).first() is not None


class PlatformOrderRow(InFranchise, Model):
    """One order as the platform gave it, with the shipment its waybill was linked to."""

    __tablename__ = "integ_order"
    __crm_label__ = _l("E-commerce order")
    __personal_names__ = ("receiver_name",)
    __table_args__ = (
        UniqueConstraint("shop_id", "platform_order_id", name="uq_integ_order_shop_order"),
        Index("ix_integ_order_franchise_modified", "franchise_id", "modified_at"),
        Index("ix_integ_order_franchise_waybill", "franchise_id", "waybill_no"),
        Index("ix_integ_order_shipment", "shipment_id"),
    )

    id = Column(Integer, primary_key=True)
    shop_id = Column(Integer, ForeignKey("integ_order_shop.id"), nullable=False)
    shop = relationship(OrderShop)
    platform_order_id = Column(String(64), nullable=False)
    status = Column(String(40), nullable=False, default="")
    created_at = Column(DateTime)
    paid_at = Column(DateTime)
    consigned_at = Column(DateTime)
    modified_at = Column(DateTime)
    receiver_name = Column(String(64))  # as the platform sends it: usually masked already
    receiver_phone_shown = Column(String(32))  # the platform's masked number, when it sends no full one
    receiver_phone_enc = encrypted_column("receiver_phone")
    receiver_phone_hash = blind_index_column("receiver_phone")
    receiver_area = Column(String(128))  # province / city / district names as given
    receiver_district_code = Column(String(6))
    receiver_address_enc = encrypted_column("receiver_address")
    logistics_company = Column(String(32))
    waybill_no = Column(String(32))
    shipment_id = Column(Integer, ForeignKey("crm_shipment.id"), nullable=True)
    shipment = relationship(Shipment)
    problem = Column(Text)
    first_pulled_at = Column(DateTime, nullable=False, default=utcnow)
    updated_at = Column(DateTime, nullable=False, default=utcnow)

    receiver_phone = PersonalValue("phone", searchable=True)
    receiver_address = PersonalValue("text")

    def __repr__(self):
        return self.platform_order_id or ""

    @property
    def receiver_masked(self) -> str:
        return mask_name(self.receiver_name)

    @property
    def receiver_phone_display(self) -> str:
        return MASKS["phone"](self.receiver_phone) if self.receiver_phone_enc else (self.receiver_phone_shown or "")

    @property
    def receiver_place(self) -> str:
        if self.receiver_district_code:
            return divisions.full_name(self.receiver_district_code)
        return self.receiver_area or ""
