"""What tiering keeps: the tier policy per franchise (HQ's row is the default), each tier's service level,
every customer's computed value (statistics, tier, RFM scores), tier history, tag rules and the tags they
gave, plugin metrics per customer, saved segments, and the recompute runs."""

from __future__ import annotations

from flask_appbuilder import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import (JSON, Boolean, Column, DateTime, Float, ForeignKey, Index, Integer, Numeric, SmallInteger,
                        String, UniqueConstraint)
from sqlalchemy.orm import relationship

from core.clock import utcnow
from core.models import Customer
from core.tenancy import Franchise, InFranchise

TIERS = ("A", "B", "C")


class _SharedConfig:
    """A franchise's own row, or HQ's (no franchise): the default every franchise without its own uses."""

    __shared_rows__ = True



class TierPolicy(_SharedConfig, Model):
    """How a franchise's customers fall into A/B/C. Cuts are monthly figures (threshold) or cumulative
    shares in percent (Pareto); `window_days` is what the monthly figure is averaged over."""

    __tablename__ = "tr_policy"
    __crm_label__ = _l("Tier policy")
    __audited__ = True
    __audit_kind__ = "config"
    __table_args__ = (UniqueConstraint("franchise_id", name="uq_tr_policy_franchise"),)

    id = Column(Integer, primary_key=True)
    franchise_id = Column(Integer, ForeignKey("crm_franchise.id"), nullable=True)
    franchise = relationship(Franchise)
    measure = Column(String(16), nullable=False, default="revenue")  # volume | revenue
    method = Column(String(16), nullable=False, default="pareto")  # threshold | pareto
    window_days = Column(Integer, nullable=False, default=90)
    a_cut = Column(Numeric(14, 2), nullable=False, default=80)
    b_cut = Column(Numeric(14, 2), nullable=False, default=95)
    rfm_window_days = Column(Integer, nullable=False, default=365)
    updated_at = Column(DateTime, nullable=False, default=utcnow, onupdate=utcnow)
    updated_by_id = Column(Integer, ForeignKey("ab_user.id"), nullable=True)

    levels = relationship("TierServiceLevel", back_populates="policy", cascade="all, delete-orphan",
                          order_by="TierServiceLevel.tier")

    def __repr__(self):
        return f"{self.franchise or _l('HQ default')}"


class TierServiceLevel(Model):
    """What a tier is owed: read by other plugins through `crm_customer_service_level`."""

    __tablename__ = "tr_service_level"
    __table_args__ = (UniqueConstraint("policy_id", "tier", name="uq_tr_service_level_tier"),)

    id = Column(Integer, primary_key=True)
    policy_id = Column(Integer, ForeignKey("tr_policy.id", ondelete="CASCADE"), nullable=False)
    policy = relationship(TierPolicy, back_populates="levels")
    tier = Column(String(1), nullable=False)
    callback_days = Column(Integer)  # a call from the account manager every N days; none: no cadence
    dedicated_manager = Column(Boolean, nullable=False, default=False)
    ticket_priority = Column(String(8))  # the least priority a ticket of this tier's customers gets
    sla_policy_name = Column(String(100))  # the tickets SLA policy (by name) for this tier's customers


class TierRun(InFranchise, Model):
    """One recompute of a franchise: when, why, with which policy, and how many moved between tiers."""

    __tablename__ = "tr_run"
    __crm_label__ = _l("Tier recompute")
    __table_args__ = (Index("ix_tr_run_franchise_started", "franchise_id", "started_at"),)

    id = Column(Integer, primary_key=True)
    trigger = Column(String(16), nullable=False, default="schedule")  # schedule | manual | policy | rules
    started_at = Column(DateTime, nullable=False, default=utcnow)
    finished_at = Column(DateTime)
    status = Column(String(8), nullable=False, default="running")  # running | done | failed
    policy = Column(JSON)  # the policy as it was applied
    customers = Column(Integer)
    changed = Column(Integer)
    movement = Column(JSON)  # {"A>B": 12, "none>C": 40, ...}
    tier_counts = Column(JSON)  # {"A": .., "B": .., "C": ..}
    seconds = Column(Float)
    error = Column(String(500))
    user_id = Column(Integer, ForeignKey("ab_user.id"), nullable=True)


class CustomerValue(InFranchise, Model):
    """A customer's computed figures, kept by the recompute (one row per customer who is not merged away)."""

    __tablename__ = "tr_customer_value"
    __crm_label__ = _l("Customer tier")
    __merge_skip__ = True  # recomputed from shipments: a merge is settled by the next run
    __table_args__ = (
        Index("ix_tr_customer_value_franchise_tier", "franchise_id", "tier"),
        Index("ix_tr_customer_value_franchise_segment", "franchise_id", "rfm_segment"),
        Index("ix_tr_customer_value_franchise_rf", "franchise_id", "r_score", "f_score"),
    )

    customer_id = Column(Integer, ForeignKey("crm_customer.id", ondelete="CASCADE"), primary_key=True)
    customer = relationship(Customer)
    # the tier window
    volume = Column(Integer, nullable=False, default=0)
    revenue = Column(Numeric(14, 2), nullable=False, default=0)
    monthly_volume = Column(Numeric(12, 2), nullable=False, default=0)
    monthly_revenue = Column(Numeric(14, 2), nullable=False, default=0)
    # the RFM window
    frequency = Column(Integer, nullable=False, default=0)
    monetary = Column(Numeric(14, 2), nullable=False, default=0)
    returned = Column(Integer, nullable=False, default=0)
    exceptions = Column(Integer, nullable=False, default=0)
    last_shipment_at = Column(DateTime)
    r_score = Column(SmallInteger)
    f_score = Column(SmallInteger)
    m_score = Column(SmallInteger)
    rfm_segment = Column(String(16))
    tier = Column(String(1))
    tier_share = Column(Numeric(7, 3))  # cumulative share in percent when the policy is Pareto
    tier_since = Column(DateTime)
    previous_tier = Column(String(1))
    changed_run_id = Column(Integer)  # the run that last changed the tier

    def __repr__(self):
        return f"{self.customer} {self.tier or ''}"


class TierHistory(InFranchise, Model):
    __tablename__ = "tr_tier_history"
    __crm_label__ = _l("Tier history")
    __table_args__ = (
        Index("ix_tr_tier_history_customer", "customer_id", "changed_at"),
        Index("ix_tr_tier_history_franchise_changed", "franchise_id", "changed_at"),
    )

    id = Column(Integer, primary_key=True)
    customer_id = Column(Integer, ForeignKey("crm_customer.id", ondelete="CASCADE"), nullable=False)
    customer = relationship(Customer)
    run_id = Column(Integer, ForeignKey("tr_run.id"), nullable=False)
    run = relationship(TierRun)
    from_tier = Column(String(1))
    to_tier = Column(String(1))
    changed_at = Column(DateTime, nullable=False, default=utcnow)
    # why: the policy's rule and the figures it saw
    measure = Column(String(16))
    method = Column(String(16))
    value = Column(Numeric(14, 2))  # the monthly volume or revenue
    share = Column(Numeric(7, 3))  # the cumulative share (Pareto)


class TagRule(_SharedConfig, Model):
    """Gives `tag` to every customer matching all `conditions` ([{field, op, value}], see fields.py)."""

    __tablename__ = "tr_tag_rule"
    __crm_label__ = _l("Tag rule")
    __audited__ = True
    __audit_kind__ = "config"
    __table_args__ = (UniqueConstraint("franchise_id", "tag", name="uq_tr_tag_rule_tag"),)

    id = Column(Integer, primary_key=True)
    franchise_id = Column(Integer, ForeignKey("crm_franchise.id"), nullable=True)
    franchise = relationship(Franchise)
    tag = Column(String(32), nullable=False)
    description = Column(String(200))
    conditions = Column(JSON, nullable=False, default=list)
    active = Column(Boolean, nullable=False, default=True)
    updated_at = Column(DateTime, nullable=False, default=utcnow, onupdate=utcnow)

    def __repr__(self):
        return self.tag or ""


class CustomerTag(InFranchise, Model):
    """A tag a rule gave; manual tags stay in the customer's own `tags` and are never touched here."""

    __tablename__ = "tr_customer_tag"
    __merge_skip__ = True
    __table_args__ = (
        UniqueConstraint("rule_id", "customer_id", name="uq_tr_customer_tag"),
        Index("ix_tr_customer_tag_customer", "customer_id"),
        Index("ix_tr_customer_tag_franchise_tag", "franchise_id", "tag"),
    )

    id = Column(Integer, primary_key=True)
    customer_id = Column(Integer, ForeignKey("crm_customer.id", ondelete="CASCADE"), nullable=False)
    rule_id = Column(Integer, ForeignKey("tr_tag_rule.id", ondelete="CASCADE"), nullable=False)
    tag = Column(String(32), nullable=False)
    since = Column(DateTime, nullable=False, default=utcnow)


class CustomerMetric(InFranchise, Model):
    """A figure another plugin contributes per customer (`crm_customer_metrics`), refreshed by the recompute."""

    __tablename__ = "tr_customer_metric"
    __merge_skip__ = True
    __table_args__ = (UniqueConstraint("customer_id", "key", name="uq_tr_customer_metric"),
                      Index("ix_tr_customer_metric_franchise_key", "franchise_id", "key"))

    id = Column(Integer, primary_key=True)
    customer_id = Column(Integer, ForeignKey("crm_customer.id", ondelete="CASCADE"), nullable=False)
    key = Column(String(32), nullable=False)
    value = Column(Float, nullable=False)


class Segment(_SharedConfig, Model):
    """A saved filter over customers (`conditions`, the same language as tag rules), used as a target list."""

    __tablename__ = "tr_segment"
    __crm_label__ = _l("Segment")
    __audited__ = True
    __audit_kind__ = "config"
    __table_args__ = (UniqueConstraint("franchise_id", "name", name="uq_tr_segment_name"),)

    id = Column(Integer, primary_key=True)
    franchise_id = Column(Integer, ForeignKey("crm_franchise.id"), nullable=True)
    franchise = relationship(Franchise)
    name = Column(String(64), nullable=False)
    description = Column(String(200))
    conditions = Column(JSON, nullable=False, default=list)
    created_by_id = Column(Integer, ForeignKey("ab_user.id"), nullable=True)
    updated_at = Column(DateTime, nullable=False, default=utcnow, onupdate=utcnow)

    def __repr__(self):
        return self.name or ""


MODELS = [TierPolicy, TierServiceLevel, TierRun, CustomerValue, TierHistory, TagRule, CustomerTag, CustomerMetric,
          Segment]
