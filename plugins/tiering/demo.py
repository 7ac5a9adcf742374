"""Demo data of the tiering plugin: HQ's default policy with service levels, HQ's tag rules and segments, and a
first recompute of every demo franchise so the screens have tiers, RFM scores and tags to show."""

from __future__ import annotations

from sqlalchemy import select

from core.extensions import db
from core.tenancy import Franchise
from plugins.tiering.models import Segment, TagRule, TierPolicy
from plugins.tiering.policy import save_policy
from plugins.tiering.recompute import recompute

POLICY = {"measure": "revenue", "method": "pareto", "window_days": 90, "a_cut": 80, "b_cut": 95,
          "rfm_window_days": 365,
          "levels": {"A": {"callback_days": 14, "dedicated_manager": True, "ticket_priority": "high"},
                     "B": {"callback_days": 30, "dedicated_manager": False, "ticket_priority": "normal"},
                     "C": {"callback_days": None, "dedicated_manager": False, "ticket_priority": None}}}
TAG_RULES = [  # tag, description, conditions
    ("高价值", "月运费 3000 元以上", [{"field": "monthly_revenue", "op": ">=", "value": 3000}]),
    ("月结客户", "月结的企业客户", [{"field": "billing_mode", "op": "in", "value": ["monthly"]}]),
    ("高退货率", "近一年退回件超过 5%（至少 20 件）", [{"field": "return_rate", "op": ">", "value": 5},
                                                 {"field": "frequency", "op": ">=", "value": 20}]),
    ("投诉敏感", "90 天内投诉 2 次以上", [{"field": "metric.complaints_90d", "op": ">=", "value": 2}]),
    ("价格敏感", "90 天内有收费投诉", [{"field": "metric.charge_complaints_90d", "op": ">=", "value": 1}]),
]
SEGMENTS = [  # name, description, conditions
    ("A类电商", "A 类的电商客户", [{"field": "tier", "op": "in", "value": ["A"]},
                              {"field": "industry", "op": "in", "value": ["ecommerce"]}]),
    ("流失风险", "曾经常发件、近来沉寂", [{"field": "rfm_segment", "op": "in", "value": ["at_risk", "cant_lose"]}]),
    ("沉睡唤醒", "发件少且久未发件", [{"field": "rfm_segment", "op": "in", "value": ["hibernating", "lost"]}]),
]


def add_demo(app, franchise_ids) -> list[str]:
    if db.session.scalar(select(TierPolicy.id).where(TierPolicy.franchise_id.is_(None))) is None:
        save_policy(None, POLICY)
    known = set(db.session.scalars(select(TagRule.tag).where(TagRule.franchise_id.is_(None))))
    db.session.add_all(TagRule(franchise_id=None, tag=tag, description=text, conditions=conditions)
                       for tag, text, conditions in TAG_RULES if tag not in known)
    named = set(db.session.scalars(select(Segment.name).where(Segment.franchise_id.is_(None))))
    db.session.add_all(Segment(franchise_id=None, name=name, description=text, conditions=conditions)
                       for name, text, conditions in SEGMENTS if name not in named)
    db.session.commit()
    lines = []
    for franchise_id in franchise_ids:
        run = recompute(franchise_id, trigger="manual")
        code = db.session.get(Franchise, franchise_id).code
        counts = run.tier_counts or {}
        lines.append(f"tiering demo {code}: tiers A {counts.get('A', 0)}, B {counts.get('B', 0)}, "
                     f"C {counts.get('C', 0)}")
    return lines
