"""Administrative divisions of mainland China (GB/T 2260 six-digit codes): a small curated table and lookups.

The table (core/data/divisions.csv) is not the whole standard: it holds the 31 province-level units, a few
large cities per province, every district/county of the cities that host demo franchises, and a few central
districts elsewhere. Codes and names were checked against the public GB/T 2260-based dataset
modood/Administrative-divisions-of-China; development zones (codes ending 71-79 in the statistical data)
are left out because they are not GB/T 2260 units.

Modelling choices (the lookups below hide them from callers):

* Municipalities (北京 110000, 天津 120000, 上海 310000, 重庆 500000) have no city row. GB/T 2260 puts a
  placeholder "市辖区" (e.g. 310100) between the municipality and its districts; we drop it and give the
  districts the municipality itself as parent (310115 浦东新区 -> 310000). For them the municipality is both
  province and city: city_of(310115) is 上海市, and full_name gives "上海市浦东新区", not "上海市上海市浦东新区".
* County-level units administered directly by a province (仙桃 429004, 济源 419001, 文昌 469005,
  石河子 659001) likewise hang off the province (GB/T 2260's "省直辖县级行政区划" placeholder is dropped).
  They act as their own city: city_of(429004) is 仙桃市 and full_name is "湖北省仙桃市".
* Prefecture-level cities without districts (东莞 441900, 儋州 460400) are city rows with no children and
  also count as district-level units, so an address in 东莞 can use 441900 as its district code.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DATA_FILE = Path(__file__).parent / "data" / "divisions.csv"

# Four, changed only by national decision: a constant is clearer than inferring them from the table's shape
MUNICIPALITIES = frozenset({"110000", "120000", "310000", "500000"})

# What e-commerce platforms put in the city field instead of a real city (they copy GB/T 2260's placeholders)
_CITY_PLACEHOLDERS = frozenset({"市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划", "省直辖行政单位"})

# A platform name may drop the end of the official name ("广西" for 广西壮族自治区, "大理" for 大理白族自治州):
# the dropped part must then end like an administrative unit, so "南" does not match "南京市"
_UNIT_ENDINGS = ("省", "市", "区", "县", "旗", "盟", "州")


@dataclass(frozen=True)
class Division:
    code: str
    name: str
    parent_code: str | None  # None for provinces
    level: str  # "province" | "city" | "district"


@dataclass(frozen=True)
class _Table:
    by_code: dict[str, Division]
    children: dict[str, tuple[Division, ...]]


@cache
def _table() -> _Table:
    by_code: dict[str, Division] = {}
    children: dict[str, list[Division]] = {}
    with DATA_FILE.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            division = Division(row["code"], row["name"], row["parent_code"] or None, row["level"])
            by_code[division.code] = division
            if division.parent_code:
                children.setdefault(division.parent_code, []).append(division)
    return _Table(by_code, {code: tuple(kids) for code, kids in children.items()})


def all_divisions() -> list[Division]:
    return list(_table().by_code.values())


def get(code: str | None) -> Division | None:
    return _table().by_code.get(str(code)) if code else None


def children(code: str) -> tuple[Division, ...]:
    return _table().children.get(code, ())


def is_district(code: str | None) -> bool:
    division = get(code)
    if division is None:
        return False
    return division.level == "district" or (division.level == "city" and not children(division.code))


def province_of(code: str | None) -> Division | None:
    division = get(code)
    while division is not None and division.parent_code:
        division = get(division.parent_code)
    return division


def city_of(code: str | None) -> Division | None:
    """The city-level unit an address in `code` belongs to; None for an ordinary province or an unknown code."""
    division = get(code)
    if division is None:
        return None
    if division.level == "city":
        return division
    if division.level == "province":
        return division if division.code in MUNICIPALITIES else None
    parent = get(division.parent_code)
    if parent.level == "city":
        return parent
    # Directly under a province: a municipality's district, or a province-administered county-level city
    return parent if parent.code in MUNICIPALITIES else division


def full_name(code: str | None, sep: str = "") -> str | None:
    """Province, city and district names joined, e.g. "广东省广州市天河区".

    A unit that is its own city or district is named once: "上海市浦东新区", "广东省东莞市", "湖北省仙桃市".
    """
    division = get(code)
    if division is None:
        return None
    names: list[str] = []
    seen: set[str] = set()
    for part in (province_of(code), city_of(code), division):
        if part is not None and part.code not in seen:
            seen.add(part.code)
            names.append(part.name)
    return sep.join(names)


def districts(province_code: str | None = None, city_code: str | None = None) -> list[Division]:
    """District-level units (including cities without districts such as 东莞), by code, optionally filtered."""
    found = []
    for division in _table().by_code.values():
        if not is_district(division.code):
            continue
        if province_code and province_of(division.code).code != province_code:
            continue
        if city_code and getattr(city_of(division.code), "code", None) != city_code:
            continue
        found.append(division)
    return sorted(found, key=lambda d: d.code)


def _match(name: str | None, candidates: Iterable[Division]) -> Division | None:
    """The candidate called `name`, allowing the platform to drop the unit's suffix; None if none or ambiguous."""
    name = (name or "").strip()
    if not name:
        return None
    candidates = list(candidates)
    exact = [c for c in candidates if c.name == name]
    if exact:
        return exact[0] if len(exact) == 1 else None
    # Also try the name without its own suffix: "大理州" should find 大理白族自治州
    stems = [name]
    if name.endswith(_UNIT_ENDINGS) and len(name) > 2:
        stems.append(name[:-1])
    for stem in stems:
        if len(stem) < 2:  # one character is too little to go on ("赵" for 赵县 must come in full)
            continue
        rests = {c: c.name[len(stem):] for c in candidates if c.name.startswith(stem)}
        rests = {c: rest for c, rest in rests.items() if rest.endswith(_UNIT_ENDINGS)}
        if rests:
            # "井陉" names 井陉县 rather than 井陉矿区: the shortest suffix is the plain one
            shortest = min(len(rest) for rest in rests.values())
            best = [c for c, rest in rests.items() if len(rest) == shortest]
            return best[0] if len(best) == 1 else None
    return None


def resolve(province: str | None, city: str | None = None, district: str | None = None) -> str | None:
    """The most specific code for an address as platforms send it (names may lack 省/市/区 and the like).

    Returns a district-level code when the district is found, else the city's or the province's code; None when
    the province is unknown. A district is looked for under the city when the city is known, else anywhere in the
    province (so a misspelt city still lets a unique district through). The city field may also hold a
    municipality's district or a province-administered county-level city (仙桃), which is then the answer.
    """
    prov = _match(province, (d for d in all_divisions() if d.level == "province"))
    if prov is None:
        return None
    city = (city or "").strip()
    district = (district or "").strip()

    place = None  # the city-level unit, when the city field names one
    if city and city not in _CITY_PLACEHOLDERS:
        place = _match(city, (d for d in children(prov.code) if d.level == "city"))
        if place is None:
            unit = _match(city, (d for d in children(prov.code) if d.level == "district"))
            if unit is not None:  # 仙桃, or a municipality's district, sent as the city
                return unit.code
    if place is None and prov.code in MUNICIPALITIES:
        place = prov  # "上海", "上海市", "市辖区" or nothing: the municipality is the city
    if place is not None and place.level == "city" and not children(place.code):
        return place.code  # 东莞: whatever the district field says, the city is the district-level unit

    if district:
        if place is not None:
            pool = [d for d in children(place.code) if d.level == "district"]
        else:  # the city is missing, a placeholder or unknown: search the whole province
            pool = districts(province_code=prov.code)
        unit = _match(district, pool)
        if unit is not None:
            return unit.code
    return place.code if place is not None else prov.code
