"""The overview's figures for a franchise scope, each one GROUP BY in the database: tier counts per franchise,
tier movement over a period, the RFM grid and segment counts, and the latest recompute of each franchise.
Results are at most a few rows per franchise (or 25 RFM cells), whatever the number of customers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select

from core.extensions import db
from core.tenancy import Franchise, Scope
from plugins.tiering.models import TIERS, CustomerValue, TierHistory, TierRun

NEW = "none"  # TierRun.movement's name for "no tier before" (and "no tier now")


def tier_counts(scope: Scope) -> dict[int, dict[str, int]]:
    """{franchise id: {"A": n, "B": n, "C": n}} of tiered customers (customers without a tier left out)."""
    query = (select(CustomerValue.franchise_id, CustomerValue.tier, func.count())
             .where(CustomerValue.tier.is_not(None))
             .group_by(CustomerValue.franchise_id, CustomerValue.tier))
    counts: dict[int, dict[str, int]] = {}
    for franchise_id, tier, n in db.session.execute(scope.restrict(query, CustomerValue.franchise_id)):
        counts.setdefault(franchise_id, dict.fromkeys(TIERS, 0))[tier] = int(n)
    return counts


def totals(counts: dict[int, dict[str, int]]) -> dict[str, int]:
    return {tier: sum(by_tier.get(tier, 0) for by_tier in counts.values()) for tier in TIERS}


def movement(scope: Scope, start: datetime, end: datetime) -> dict[tuple[str, str], int]:
    """{(from, to): customers} of tier changes written in [start, end); "none" for no tier."""
    query = (select(TierHistory.from_tier, TierHistory.to_tier, func.count())
             .where(TierHistory.changed_at >= start, TierHistory.changed_at < end)
             .group_by(TierHistory.from_tier, TierHistory.to_tier))
    return {(before or NEW, after or NEW): int(n)
            for before, after, n in db.session.execute(scope.restrict(query, TierHistory.franchise_id))}


def run_movement(runs) -> dict[tuple[str, str], int]:
    """The movements of runs ({"A>B": n, ...}) added up as {(from, to): n}."""
    merged: dict[tuple[str, str], int] = {}
    for run in runs:
        for key, n in (run.movement or {}).items():
            before, _, after = key.partition(">")
            pair = (before or NEW, after or NEW)
            merged[pair] = merged.get(pair, 0) + int(n or 0)
    return merged


def latest_runs(scope: Scope) -> list:
    """The latest recompute of each franchise in scope, with the franchise's name, by franchise code."""
    ranked = select(TierRun.id, func.row_number().over(
        partition_by=TierRun.franchise_id, order_by=(TierRun.started_at.desc(), TierRun.id.desc())).label("rn"))
    ranked = scope.restrict(ranked, TierRun.franchise_id).subquery()
    query = (select(TierRun, Franchise.name, Franchise.code)
             .join(ranked, ranked.c.id == TierRun.id).join(Franchise, Franchise.id == TierRun.franchise_id)
             .where(ranked.c.rn == 1).order_by(Franchise.code))
    return db.session.execute(query).all()


@dataclass
class RfmCell:
    """One (R, F) cell of the grid: customers, their average monetary, and how they split into segments."""

    r: int
    f: int
    customers: int = 0
    monetary_sum: float = 0.0
    segments: dict[str, int] = field(default_factory=dict)

    @property
    def average_monetary(self) -> float | None:
        return round(self.monetary_sum / self.customers, 2) if self.customers else None

    @property
    def segment(self) -> str | None:
        """The segment most of the cell's customers are in (M decides between some segments)."""
        if not self.segments:
            return None
        return max(sorted(self.segments), key=lambda code: self.segments[code])


def rfm_grid(scope: Scope) -> dict[tuple[int, int], RfmCell]:
    """{(r, f): RfmCell} for all 25 cells, scored customers only."""
    query = (select(CustomerValue.r_score, CustomerValue.f_score, CustomerValue.rfm_segment, func.count(),
                    func.coalesce(func.sum(CustomerValue.monetary), 0))
             .where(CustomerValue.r_score.is_not(None), CustomerValue.f_score.is_not(None))
             .group_by(CustomerValue.r_score, CustomerValue.f_score, CustomerValue.rfm_segment))
    cells = {(r, f): RfmCell(r, f) for r in range(1, 6) for f in range(1, 6)}
    for r, f, segment, n, monetary in db.session.execute(scope.restrict(query, CustomerValue.franchise_id)):
        cell = cells.get((int(r), int(f)))
        if cell is None:
            continue
        cell.customers += int(n)
        cell.monetary_sum += float(monetary or 0)
        if segment:
            cell.segments[segment] = cell.segments.get(segment, 0) + int(n)
    return cells


def segment_counts(scope: Scope) -> dict[str | None, int]:
    query = select(CustomerValue.rfm_segment, func.count()).group_by(CustomerValue.rfm_segment)
    return {segment: int(n) for segment, n in db.session.execute(scope.restrict(query, CustomerValue.franchise_id))}


def franchise_names(ids) -> dict[int, str]:
    ids = sorted(i for i in ids if i is not None)
    if not ids:
        return {}
    query = select(Franchise.id, Franchise.name, Franchise.code).where(Franchise.id.in_(ids))
    return {fid: f"{name} ({code})" for fid, name, code in db.session.execute(query)}
