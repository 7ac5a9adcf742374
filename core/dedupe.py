"""Finding probable duplicate customers of a franchise: same phone, same credit code, or a similar name in the
same district.

`scan_customers(franchise_id)` runs nightly as core's periodic job "core.dedupe_scan";
`scan_customers(franchise_id, customer_ids)` (or `scan_later(...)` from an import) looks only at pairs that
involve those customers. Equal phones and credit codes are found by a self-join in the database. Names need
a normalisation SQL cannot do portably, so they are compared in Python on a sorted stream of the franchise's
customers (per district, each with the next few in name order: "sorted neighbourhood"), which keeps memory
flat however many customers there are. Candidates are upserted: a pair is stored once, a dismissed pair is
never reopened, and a full scan forgets open pairs it no longer finds.
"""

from __future__ import annotations

import unicodedata
from collections import deque
from dataclasses import dataclass
from typing import Iterable, Iterator

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.orm import aliased

from core.clock import utcnow
from core.extensions import db, dialect_insert
from core.jobs import enqueue
from core.models.customer import Customer
from core.models.dedupe import DuplicateCandidate
from core.tenancy import ScopeError, current_scope

# how sure each reason makes us, in percent; reasons combine as independent evidence
REASON_WEIGHTS = {"credit_code": 90, "phone": 80, "name_district": 50}
# more customers than this sharing one phone (a switchboard, a placeholder like 4000000000) or one name in a
# district (王伟) says nothing about any two of them: such groups give no pairs instead of thousands
COMMON_VALUE_LIMIT = 20
# each customer is compared with this many following customers of its district in name order
NAME_WINDOW = 8
# one character apart counts as similar only for names this long: "一号" and "二号" are different shops
EDIT_DISTANCE_LENGTHS = range(4, 13)
BATCH = 500

# longest first, stripped repeatedly: "某某贸易有限公司旗舰店" -> "某某贸易"
NAME_SUFFIXES = ("股份有限公司", "有限责任公司", "有限公司", "分公司", "总公司", "公司", "旗舰店", "专卖店", "专营店",
                 "门市部", "经营部", "商行", "店")
_BRACKETS = {"(": ")", "[": "]", "【": "】", "〔": "〕"}


def combined_score(reasons: Iterable[str]) -> int:
    doubt = 1.0
    for reason in reasons:
        doubt *= 1 - REASON_WEIGHTS.get(reason, 0) / 100
    return round(100 * (1 - doubt))


def live(model=Customer):
    """Customers a merge could still concern: not merged away, not erased."""
    return and_(model.status != "merged", model.erased_at.is_(None))


# --- names ---------------------------------------------------------------------------------------------


def name_key(name: str | None) -> str:
    """A name as compared: width and case folded, bracketed parts, spaces, punctuation and company suffixes gone."""
    text = unicodedata.normalize("NFKC", name or "").lower()
    text = _without_brackets(text)
    text = "".join(ch for ch in text if ch.isalnum())
    stripped = True
    while stripped:
        stripped = False
        for suffix in NAME_SUFFIXES:
            if text.endswith(suffix) and len(text) > len(suffix):
                text, stripped = text[: -len(suffix)], True
                break
    return text


def _without_brackets(text: str) -> str:
    # "（杭州）" or "(滨江店)" qualify a name; they do not make it another customer
    out, closing = [], None
    for ch in text:
        if closing is None and ch in _BRACKETS:
            closing = _BRACKETS[ch]
        elif closing is not None and ch == closing:
            closing = None
        elif closing is None:
            out.append(ch)
    return "".join(out)


def within_one_edit(a: str, b: str) -> bool:
    """Whether one insertion, deletion or substitution turns a into b (or they are equal)."""
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    if len(a) == len(b):
        return a[i + 1:] == b[i + 1:]
    return a[i:] == b[i + 1:]


@dataclass(frozen=True)
class _Named:
    id: int
    kind: str
    district: str
    key: str


def names_similar(a: _Named, b: _Named) -> bool:
    """Equal keys; for two businesses also one key inside the other, or one character apart."""
    if not a.key or not b.key:
        return False
    if a.key == b.key:
        return True
    if a.kind != "B" or b.kind != "B":
        return False  # persons' names are short and shared: only an equal name is a hint
    short, long_ = sorted((a.key, b.key), key=len)
    if len(short) >= 2 and short in long_:
        return True
    return len(a.key) in EDIT_DISTANCE_LENGTHS and len(b.key) in EDIT_DISTANCE_LENGTHS \
        and within_one_edit(a.key, b.key)


# --- finding pairs -------------------------------------------------------------------------------------


def _chunks(values: list) -> Iterator[list]:
    for start in range(0, len(values), BATCH):
        yield values[start:start + BATCH]


def _equal_value_pairs(franchise_id: int, attr: str, only: list[int] | None) -> Iterator[tuple[int, int]]:
    """Pairs of live customers sharing a non-empty value of `attr`, from a self-join in the database."""
    mine, other, grouped = Customer, aliased(Customer), aliased(Customer)
    column, other_column, grouped_column = getattr(mine, attr), getattr(other, attr), getattr(grouped, attr)
    common = (select(grouped_column)
              .where(grouped.franchise_id == franchise_id, live(grouped), grouped_column.is_not(None))
              .group_by(grouped_column).having(func.count() > COMMON_VALUE_LIMIT))
    query = (
        select(mine.id, other.id)
        .join(other, and_(other.franchise_id == mine.franchise_id, other_column == column, other.id > mine.id))
        .where(mine.franchise_id == franchise_id, live(mine), live(other), column.is_not(None), column != "")
    )
    if only is not None:
        picked = aliased(Customer)
        common = common.where(grouped_column.in_(select(getattr(picked, attr)).where(picked.id.in_(only))))
        query = query.where(or_(mine.id.in_(only), other.id.in_(only)))
    query = query.where(column.not_in(common))
    for a, b in db.session.execute(query.execution_options(yield_per=BATCH)):
        yield a, b


def _name_rows(franchise_id: int, districts: list[str] | None):
    """Live customers with a district, in district and (roughly) name order, streamed."""
    order_name = func.replace(func.replace(func.trim(Customer.name), " ", ""), "\u3000", "")
    common = (
        select(Customer.district_code, Customer.name)
        .where(Customer.franchise_id == franchise_id, live())
        .group_by(Customer.district_code, Customer.name)
        .having(func.count() > COMMON_VALUE_LIMIT)
    )
    query = (
        select(Customer.id, Customer.kind, Customer.name, Customer.district_code)
        .where(Customer.franchise_id == franchise_id, live(), Customer.district_code.is_not(None),
               Customer.district_code != "")
        .order_by(Customer.district_code, order_name, Customer.id)
    )
    if districts is not None:
        query = query.where(Customer.district_code.in_(districts))
        common = common.where(Customer.district_code.in_(districts))
    too_common = {tuple(row) for row in db.session.execute(common)}  # a handful of (district, name) at most
    for row in db.session.execute(query.execution_options(yield_per=BATCH)):
        if (row.district_code, row.name) not in too_common:
            yield _Named(row.id, row.kind, row.district_code, name_key(row.name))


def _districts_of(customer_ids: list[int]) -> list[str]:
    found = set()
    for chunk in _chunks(customer_ids):
        found.update(db.session.scalars(select(Customer.district_code).distinct().where(
            Customer.id.in_(chunk), Customer.district_code.is_not(None))))
    return sorted(found)


def _similar_name_pairs(franchise_id: int, only: set[int] | None) -> Iterator[tuple[int, int]]:
    districts = _districts_of(sorted(only)) if only is not None else None
    if districts == []:
        return
    window: deque[_Named] = deque(maxlen=NAME_WINDOW)
    for row in _name_rows(franchise_id, districts):
        if window and window[-1].district != row.district:
            window.clear()
        for earlier in window:
            if only is not None and earlier.id not in only and row.id not in only:
                continue
            if names_similar(earlier, row):
                yield earlier.id, row.id
        window.append(row)


# --- storing candidates --------------------------------------------------------------------------------


class _CandidateWriter:
    """Collects pairs with their reasons and upserts them in batches: one row per pair, ever.

    Within one scan the reasons of a pair add up; a full scan replaces what an earlier scan said. Dismissed
    and merged pairs keep their status whatever is found.
    """

    def __init__(self, franchise_id: int, started, full: bool):
        self.franchise_id = franchise_id
        self.started = started
        self.full = full
        self.pending: dict[tuple[int, int], set[str]] = {}
        self.new = 0

    def add(self, pairs: Iterable[tuple[int, int]], reason: str) -> None:
        for a, b in pairs:
            key = (a, b) if a < b else (b, a)
            self.pending.setdefault(key, set()).add(reason)
            if len(self.pending) >= BATCH:
                self.flush()

    def flush(self) -> None:
        pending, self.pending = self.pending, {}
        if not pending:
            return
        updates = []
        for row in self._existing(pending):
            key = (row.customer_a_id, row.customer_b_id)
            found = pending.pop(key, None)
            if found is None or row.status != "open":
                continue
            reasons = found | (set(row.reasons.split(",")) if self._adds_up(row) else set())
            updates.append({"id": row.id, "reasons": ",".join(sorted(reasons)), "score": combined_score(reasons),
                            "seen_at": self.started})
        if updates:
            db.session.execute(update(DuplicateCandidate), updates)
        if pending:
            self._insert([{"franchise_id": self.franchise_id, "customer_a_id": a, "customer_b_id": b,
                           "reasons": ",".join(sorted(reasons)), "score": combined_score(reasons), "status": "open",
                           "found_at": self.started, "seen_at": self.started}
                          for (a, b), reasons in pending.items()])
            self.new += len(pending)

    def _adds_up(self, row) -> bool:
        # a partial scan looks at some reasons of some pairs only: it may add, never take away
        return not self.full or (row.seen_at is not None and row.seen_at >= self.started)

    def _existing(self, pending):
        firsts = sorted({a for a, _ in pending})
        seconds = sorted({b for _, b in pending})
        return db.session.execute(
            select(DuplicateCandidate.id, DuplicateCandidate.customer_a_id, DuplicateCandidate.customer_b_id,
                   DuplicateCandidate.reasons, DuplicateCandidate.status, DuplicateCandidate.seen_at)
            .where(DuplicateCandidate.franchise_id == self.franchise_id,
                   DuplicateCandidate.customer_a_id.in_(firsts), DuplicateCandidate.customer_b_id.in_(seconds))
        ).all()

    def _insert(self, rows: list[dict]) -> None:
        # a scan after an import and the nightly one may meet on the same pair: the second insert yields
        db.session.execute(dialect_insert(DuplicateCandidate).on_conflict_do_nothing(), rows)


def _forget_unseen(franchise_id: int, started) -> int:
    """Open pairs a full scan no longer finds (a phone was corrected, a customer merged or erased)."""
    return db.session.execute(
        delete(DuplicateCandidate)
        .where(DuplicateCandidate.franchise_id == franchise_id, DuplicateCandidate.status == "open",
               or_(DuplicateCandidate.seen_at.is_(None), DuplicateCandidate.seen_at < started))
        .execution_options(synchronize_session=False)
    ).rowcount


# --- entry points --------------------------------------------------------------------------------------


def scan_customers(franchise_id: int, customer_ids: Iterable[int] | None = None) -> int:
    """Find and store probable duplicates in `franchise_id`; only pairs involving `customer_ids` when given.

    Returns how many new pairs were stored. Runs in the caller's transaction (a job commits it).
    """
    if not current_scope().allows(franchise_id):
        raise ScopeError(_l("Franchise: you cannot write rows of this franchise."))
    only = sorted({int(i) for i in customer_ids}) if customer_ids is not None else None
    if only == []:
        return 0
    db.session.flush()
    started = utcnow()
    writer = _CandidateWriter(franchise_id, started, full=only is None)
    for chunk in _chunks(only) if only is not None else [None]:
        writer.add(_equal_value_pairs(franchise_id, "phone_hash", chunk), "phone")
        writer.add(_equal_value_pairs(franchise_id, "credit_code", chunk), "credit_code")
    writer.add(_similar_name_pairs(franchise_id, set(only) if only is not None else None), "name_district")
    writer.flush()
    if only is None:
        _forget_unseen(franchise_id, started)
    return writer.new


def scan_later(franchise_id: int, customer_ids: Iterable[int]):
    """Queue a scan of just-imported customers; it runs after the import's transaction commits."""
    return enqueue(scan_customers, franchise_id, customer_ids=sorted(set(customer_ids)), queue="low",
                   franchise_id=franchise_id)
