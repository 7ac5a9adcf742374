"""Probable duplicate customers found by the dedupe scan, and the merges that resolved them (with undo)."""

from __future__ import annotations

from flask_appbuilder import Model
from flask_appbuilder.security.sqla.models import User
from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, CheckConstraint, Column, DateTime, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import relationship

from core.clock import utcnow
from core.models.customer import Customer
from core.tenancy import InFranchise

CANDIDATE_STATUSES = {"open": _l("Open"), "dismissed": _l("Not a duplicate"), "merged": _l("Merged")}
REASONS = {"phone": _l("Same phone"), "credit_code": _l("Same credit code"),
           "name_district": _l("Similar name, same district")}


class DuplicateCandidate(InFranchise, Model):
    """A pair of customers of one franchise that look like the same customer; a is always the lower id."""

    __tablename__ = "crm_duplicate_candidate"
    __crm_label__ = _l("Duplicate candidate")
    __table_args__ = (
        # with franchise_id in it the pair stays unique after distributing the table by franchise (Citus);
        # a customer belongs to one franchise, so this is the same as unique per (a, b)
        UniqueConstraint("franchise_id", "customer_a_id", "customer_b_id", name="uq_crm_duplicate_pair"),
        CheckConstraint("customer_a_id < customer_b_id", name="ck_crm_duplicate_pair_order"),
        Index("ix_crm_duplicate_franchise_status", "franchise_id", "status", "score"),
        Index("ix_crm_duplicate_franchise_b", "franchise_id", "customer_b_id"),
    )

    id = Column(Integer, primary_key=True)
    customer_a_id = Column(Integer, ForeignKey("crm_customer.id"), nullable=False)
    customer_a = relationship(Customer, foreign_keys=[customer_a_id])
    customer_b_id = Column(Integer, ForeignKey("crm_customer.id"), nullable=False)
    customer_b = relationship(Customer, foreign_keys=[customer_b_id])
    reasons = Column(String(64), nullable=False)  # comma separated keys of REASONS
    score = Column(Integer, nullable=False, default=0)  # 0-100, higher is more certain
    status = Column(String(16), nullable=False, default="open")
    found_at = Column(DateTime, nullable=False, default=utcnow)
    seen_at = Column(DateTime)  # the last scan that still found the pair; a full scan drops open pairs it missed

    def __repr__(self):
        return f"{self.customer_a_id} ~ {self.customer_b_id}"

    def reason_list(self) -> list[str]:
        return [r for r in (self.reasons or "").split(",") if r]


class CustomerMerge(InFranchise, Model):
    """One merge: which rows moved from `merged` to `survivor`, and what undo needs to put back."""

    __tablename__ = "crm_customer_merge"
    __crm_label__ = _l("Customer merge")
    __table_args__ = (
        Index("ix_crm_customer_merge_franchise_at", "franchise_id", "merged_at"),
        Index("ix_crm_customer_merge_franchise_survivor", "franchise_id", "survivor_id"),
        Index("ix_crm_customer_merge_franchise_merged", "franchise_id", "merged_id"),
    )

    id = Column(Integer, primary_key=True)
    survivor_id = Column(Integer, ForeignKey("crm_customer.id"), nullable=False)
    survivor = relationship(Customer, foreign_keys=[survivor_id])
    merged_id = Column(Integer, ForeignKey("crm_customer.id"), nullable=False)
    merged = relationship(Customer, foreign_keys=[merged_id])
    # {"table.column": [primary keys]}: exactly these rows go back on undo, rows added since stay
    moved = Column(JSON, nullable=False, default=dict)
    # survivor fields the merge filled in, with their value before (empty); custom values under "custom".
    # Only the empty values are kept here: the merged customer's own values stay on its row, not in this log.
    survivor_before = Column(JSON, nullable=False, default=dict)
    merged_status = Column(String(16))  # the merged customer's status before the merge
    merged_by_id = Column(Integer, ForeignKey("ab_user.id"), nullable=True)
    merged_by = relationship(User, foreign_keys=[merged_by_id])
    merged_at = Column(DateTime, nullable=False, default=utcnow)
    undone_at = Column(DateTime, nullable=True)
    undone_by_id = Column(Integer, ForeignKey("ab_user.id"), nullable=True)
    undone_by = relationship(User, foreign_keys=[undone_by_id])

    def __repr__(self):
        return f"{self.merged_id} → {self.survivor_id}"

    def moved_counts(self) -> dict[str, int]:
        return {key: len(ids) for key, ids in (self.moved or {}).items() if ids}
