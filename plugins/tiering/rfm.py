"""RFM segments: named ranges of the recency and frequency scores (and monetary for the top cells), first
match wins. Every one of the 125 score cells falls into exactly one segment (tests check it); the screen shows
this table as it is."""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, case


@dataclass(frozen=True)
class RfmRule:
    code: str
    label: object
    meaning: object
    r: tuple[int, int]
    f: tuple[int, int]
    m: tuple[int, int] = (1, 5)

    def matches(self, r: int, f: int, m: int) -> bool:
        return all(low <= score <= high for score, (low, high) in ((r, self.r), (f, self.f), (m, self.m)))


RULES = (
    RfmRule("champions", _l("Champions"), _l("Shipped recently, ship often and spend the most"), (4, 5), (4, 5),
            (4, 5)),
    RfmRule("loyal", _l("Loyal"), _l("Ship regularly and recently"), (3, 5), (3, 5)),
    RfmRule("cant_lose", _l("Can't lose them"), _l("Used to ship often and spend much, but not lately"), (1, 2),
            (4, 5), (4, 5)),
    RfmRule("at_risk", _l("At risk"), _l("Shipped often before, quiet for a while"), (1, 2), (3, 5)),
    RfmRule("potential", _l("Potential"), _l("Recent but few shipments: new or growing"), (3, 5), (1, 2)),
    RfmRule("hibernating", _l("Hibernating"), _l("Few shipments, a while ago"), (2, 2), (1, 2)),
    RfmRule("lost", _l("Lost customers"), _l("Few shipments, long ago"), (1, 1), (1, 2)),
)
SEGMENTS = {rule.code: rule.label for rule in RULES}


def segment_of(r: int, f: int, m: int) -> str | None:
    return next((rule.code for rule in RULES if rule.matches(r, f, m)), None)


def segment_case(r, f, m):
    """The SQL CASE giving the segment code of score columns `r`, `f`, `m` (NULL when unscored)."""
    whens = []
    for rule in RULES:
        parts = []
        for column, (low, high) in ((r, rule.r), (f, rule.f), (m, rule.m)):
            if (low, high) != (1, 5):
                parts.append(column.between(low, high))
        whens.append((and_(*parts), rule.code))
    return case(*whens, else_=None)
