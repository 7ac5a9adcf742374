"""Customers (B: businesses such as e-commerce shops, C: persons), their contacts and their addresses."""

from __future__ import annotations

from flask_appbuilder import Model
from flask_appbuilder.security.sqla.models import User
from flask_babel import lazy_gettext as _l
from sqlalchemy import Boolean, Column, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import relationship

from core import divisions
from core.clock import utcnow
from core.lowcode.models import CustomFieldsMixin
from core.models import choices
from core.privacy import PersonalValue, blind_index_column, encrypted_column, mask_name
from core.tenancy import InFranchise

# Unified social credit code (GB 32100-2015): 18 characters from this alphabet, the last a check character.
_CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def credit_code_problem(code: str) -> str | None:
    """Why `code` is not a unified social credit code, or None when it is one."""
    if len(code) != 18 or any(ch not in _CREDIT_ALPHABET for ch in code):
        return str(_l("a unified social credit code has 18 digits or capital letters"))
    total = sum(_CREDIT_ALPHABET.index(ch) * w for ch, w in zip(code[:17], _CREDIT_WEIGHTS))
    if _CREDIT_ALPHABET[(31 - total % 31) % 31] != code[17]:
        return str(_l("the credit code's check character is wrong"))
    return None


def district_problem(code: str | None) -> str | None:
    if code and not divisions.is_district(code):
        return str(_l("unknown district code %(code)s (GB/T 2260, 6 digits)", code=code))
    return None


def _choice_problem(options: dict, value) -> str | None:
    if value is not None and value != "" and value not in options:
        return str(_l("not one of: %(values)s", values=", ".join(options)))
    return None


class Customer(InFranchise, CustomFieldsMixin, Model):
    __tablename__ = "crm_customer"
    __crm_label__ = _l("Customer")
    __audited__ = True
    __table_args__ = (
        Index("ix_crm_customer_franchise_created", "franchise_id", "created_at"),
        Index("ix_crm_customer_created", "created_at"),
        Index("ix_crm_customer_status_created", "status", "created_at"),
        Index("ix_crm_customer_franchise_phone", "franchise_id", "phone_hash"),
        Index("ix_crm_customer_phone", "phone_hash"),
        Index("ix_crm_customer_franchise_credit", "franchise_id", "credit_code"),
        Index("ix_crm_customer_franchise_external", "franchise_id", "external_id"),
        Index("ix_crm_customer_franchise_name", "franchise_id", "name"),
    )

    id = Column(Integer, primary_key=True)
    kind = Column(String(1), nullable=False, default="C")
    name = Column(String(128), nullable=False)
    company_name = Column(String(200))
    credit_code = Column(String(18))
    license_no = Column(String(32))
    industry = Column(String(32))
    billing_mode = Column(String(16))
    credit_rating = Column(String(8))
    account_manager_id = Column(Integer, ForeignKey("ab_user.id"), nullable=True)
    account_manager = relationship(User, foreign_keys=[account_manager_id])
    preferred_delivery_time = Column(String(16))
    tags = Column(String(500))
    status = Column(String(16), nullable=False, default="active")
    source = Column(String(16), nullable=False, default="counter")
    external_id = Column(String(64))
    district_code = Column(String(6))
    marketing_opt_out = Column(Boolean, nullable=False, default=False)
    phone_enc = encrypted_column("phone")
    phone_hash = blind_index_column("phone")
    id_number_enc = encrypted_column("id_number")
    id_number_hash = blind_index_column("id_number")
    created_at = Column(DateTime, nullable=False, default=utcnow)
    updated_at = Column(DateTime, nullable=False, default=utcnow, onupdate=utcnow)
    merged_into_id = Column(Integer, ForeignKey("crm_customer.id"), nullable=True)
    erased_at = Column(DateTime, nullable=True)

    phone = PersonalValue("phone", searchable=True)
    id_number = PersonalValue("id_number", searchable=True)

    # personal data goes to the audit log as "changed", never as a value: an erase must leave none behind
    __audit_redact__ = {"name", "phone_enc", "phone_hash", "id_number_enc", "id_number_hash"}
    __personal_names__ = ("name",)  # plain columns that are personal data too (masked for persons)

    def __repr__(self):
        return self.display_name

    @property
    def is_business(self) -> bool:
        return self.kind == "B"

    @property
    def display_name(self) -> str:
        """The name screens show: a business's name in full, a person's masked (PIPL)."""
        return self.name if self.is_business else mask_name(self.name)

    def tag_list(self) -> list[str]:
        return [t.strip() for t in (self.tags or "").replace("，", ",").split(",") if t.strip()]

    def validation_errors(self) -> dict[str, str]:
        errors = {}
        if self.kind not in choices.CUSTOMER_KINDS:
            errors["kind"] = _choice_problem(choices.CUSTOMER_KINDS, self.kind) or str(_l("required"))
        if not (self.name or "").strip():
            errors["name"] = str(_l("required"))
        if self.credit_code:
            self.credit_code = self.credit_code.strip().upper()
            problem = credit_code_problem(self.credit_code)
            if problem:
                errors["credit_code"] = problem
        for field, options in (("status", choices.CUSTOMER_STATUSES), ("source", choices.SOURCE_CHANNELS),
                               ("billing_mode", choices.BILLING_MODES), ("industry", choices.INDUSTRIES),
                               ("credit_rating", choices.CREDIT_RATINGS),
                               ("preferred_delivery_time", choices.DELIVERY_TIMES)):
            problem = _choice_problem(options, getattr(self, field))
            if problem:
                errors[field] = problem
        if self.kind == "C" and self.billing_mode == "monthly":
            errors["billing_mode"] = str(_l("monthly settlement is for business customers"))
        problem = district_problem(self.district_code)
        if problem:
            errors["district_code"] = problem
        manager = self.account_manager
        if manager is not None and self.franchise_id is not None \
                and self.franchise_id not in {f.id for f in getattr(manager, "franchises", [])}:
            errors["account_manager"] = str(_l("is not a user of this customer's franchise"))
        return errors


class Contact(InFranchise, CustomFieldsMixin, Model):
    """A person at a business customer: several per customer, one of them primary."""

    __tablename__ = "crm_contact"
    __crm_label__ = _l("Contact")
    __audited__ = True
    __audit_redact__ = {"name", "phone_enc", "phone_hash", "email"}
    __personal_names__ = ("name", "email")
    __table_args__ = (
        Index("ix_crm_contact_customer", "customer_id"),
        Index("ix_crm_contact_franchise_phone", "franchise_id", "phone_hash"),
    )

    id = Column(Integer, primary_key=True)
    customer_id = Column(Integer, ForeignKey("crm_customer.id"), nullable=False)
    customer = relationship(Customer, backref="contacts")
    name = Column(String(64), nullable=False)
    title = Column(String(64))
    email = Column(String(128))
    is_primary = Column(Boolean, nullable=False, default=False)
    note = Column(Text)
    phone_enc = encrypted_column("phone")
    phone_hash = blind_index_column("phone")
    created_at = Column(DateTime, nullable=False, default=utcnow)

    phone = PersonalValue("phone", searchable=True)

    def __repr__(self):
        return self.contact_display

    @property
    def contact_display(self) -> str:
        return mask_name(self.name)

    def validation_errors(self) -> dict[str, str]:
        errors = {}
        if not (self.name or "").strip():
            errors["name"] = str(_l("required"))
        if self.email and "@" not in self.email:
            errors["email"] = str(_l("not an e-mail address"))
        return errors


class Address(InFranchise, CustomFieldsMixin, Model):
    """A sender or return address: district by GB/T 2260 code (kept for statistics), detail encrypted."""

    __tablename__ = "crm_address"
    __crm_label__ = _l("Address")
    __audited__ = True
    __audit_redact__ = {"contact_name", "phone_enc", "phone_hash", "detail_enc"}
    __personal_names__ = ("contact_name",)
    __table_args__ = (Index("ix_crm_address_customer", "customer_id"),)

    id = Column(Integer, primary_key=True)
    customer_id = Column(Integer, ForeignKey("crm_customer.id"), nullable=False)
    customer = relationship(Customer, backref="addresses")
    kind = Column(String(16), nullable=False, default="sender")
    contact_name = Column(String(64))
    province_code = Column(String(6))
    city_code = Column(String(6))
    district_code = Column(String(6), nullable=False)
    is_default = Column(Boolean, nullable=False, default=False)
    phone_enc = encrypted_column("phone")
    phone_hash = blind_index_column("phone")
    detail_enc = encrypted_column("detail")
    created_at = Column(DateTime, nullable=False, default=utcnow)

    phone = PersonalValue("phone", searchable=True)
    detail = PersonalValue("text")

    def __repr__(self):
        return self.masked_address

    @property
    def contact_display(self) -> str:
        return mask_name(self.contact_name)

    @property
    def masked_address(self) -> str:
        """Down to the district, the rest hidden: what lists and exports show."""
        return divisions.full_name(self.district_code) + ("****" if self.detail_enc else "")

    def validation_errors(self) -> dict[str, str]:
        errors = {}
        if not self.district_code:
            errors["district_code"] = str(_l("required"))
        else:
            problem = district_problem(self.district_code)
            if problem:
                errors["district_code"] = problem
            else:
                self.province_code = getattr(divisions.province_of(self.district_code), "code", None)
                self.city_code = getattr(divisions.city_of(self.district_code), "code", None)
        problem = _choice_problem(choices.ADDRESS_KINDS, self.kind)
        if problem:
            errors["kind"] = problem
        return errors
