"""Realistic synthetic business data for `crm demo` and `crm seed`: one generator, two bulk writers.

What it makes (domain.md 1.7, 1.8 and 5): customers with Chinese names, B customers (shops, companies) with
valid unified social credit codes, several contacts, sender and return addresses, contracts and a history of
conversations; C customers (persons) with valid mobile and ID numbers; every district a GB/T 2260 code of the
franchise's own city (core/divisions). Shipments over the last `days` days follow the issue's path
(揽收 → 3–6 transit scans → 到达网点 → 派件 → 投柜/驿站 or 签收, 1–4 days) with exceptions injected at the
rates of `EXCEPTION_RATES` (inside the bounds of domain.md 1.8, `RATE_BOUNDS`); a shipment's status, status
time and delivery time are those of its last event. Volumes are heavy-Pareto: each B shop gets a lognormal
weight calibrated so that the top 20% of shops send about 80% of the B parcels.

Deterministic: the same seed and the same `now` give the same plaintext data (ciphertexts differ, their nonces
are random). Memory stays flat in the number of shipments except for one small array entry per shipment
(its customer and time, bucketed by day so shipment ids grow with their creation time, as in a real table).

Writing bypasses the ORM on purpose (no audit entry per generated row, no per-row encryption through the
model): personal values are encrypted with the app's Vault directly, receivers come from a pool encrypted
once. PostgreSQL gets COPY (for a load larger than the table, secondary indexes and foreign keys are dropped
first and rebuilt after; into empty tables with COPY FREEZE; then ANALYZE); SQLite gets executemany.
"""

from __future__ import annotations

import bisect
import contextlib
import math
import queue
import random
import threading
import time
from array import array
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import select

from core import divisions
from core.audit import audit_entry
from core.clock import utcnow
from core.extensions import db
from core.privacy import vault_for
from core.tenancy import Franchise, Region, user_franchise

DAY = 86400
HOUR = 3600
CHINA_OFFSET = 8 * HOUR  # the timestamps are UTC; couriers work by Beijing time

# --- exception rates (domain.md 1.8) -------------------------------------------------------------------------

# Share of shipments whose journey contains the event. "returned" are sender interceptions and address
# problems; refusals and some failed attempts end in a return too (the RETURNING bound covers all of them).
EXCEPTION_RATES = {
    "failed_attempt": 0.02,   # FAILED_ATTEMPT, then delivered on the next attempt (or returned: below)
    "refused": 0.006,         # REFUSED → RETURNING → RETURNED
    "returned": 0.022,        # intercepted by the sender or address problem → RETURNING → RETURNED
    "damaged": 0.0003,        # DAMAGED at a hub; most go on to delivery, some stay open as a claim
    "lost": 0.00005,          # DELAYED (no update) → LOST
}
FAILED_THEN_RETURNED = 0.12
# What domain.md 1.8 allows, by the status of the event that shows it
RATE_BOUNDS = {
    "FAILED_ATTEMPT": (0.01, 0.03),
    "REFUSED": (0.003, 0.01),
    "RETURNING": (0.01, 0.05),
    "DAMAGED": (0.0001, 0.0005),
    "LOST": (0.0, 0.0001),
}

# --- vocabularies ----------------------------------------------------------------------------------------------

# The most common surnames with their approximate share (per mille, 2020 census)
SURNAMES = (
    ("王", 71), ("李", 70), ("张", 67), ("刘", 54), ("陈", 46), ("杨", 31), ("黄", 25), ("赵", 20), ("吴", 20),
    ("周", 19), ("徐", 13), ("孙", 13), ("马", 12), ("朱", 12), ("胡", 11), ("郭", 11), ("何", 10), ("林", 10),
    ("高", 10), ("罗", 9), ("郑", 8), ("梁", 8), ("谢", 7), ("宋", 6), ("唐", 6), ("许", 6), ("韩", 6), ("冯", 5),
    ("邓", 5), ("曹", 5), ("彭", 5), ("曾", 5), ("肖", 5), ("田", 5), ("董", 5), ("袁", 4), ("潘", 4), ("于", 4),
    ("蒋", 4), ("蔡", 4), ("余", 4), ("杜", 4), ("叶", 4), ("程", 4), ("苏", 4), ("魏", 3), ("吕", 3), ("丁", 3),
    ("任", 3), ("沈", 3), ("姚", 3), ("卢", 3), ("姜", 3), ("崔", 3), ("钟", 3), ("谭", 3), ("陆", 3), ("汪", 3),
    ("范", 3), ("金", 3), ("石", 3), ("廖", 2), ("贾", 2), ("夏", 2), ("韦", 2), ("付", 2), ("方", 2), ("白", 2),
    ("邹", 2), ("孟", 2), ("熊", 2), ("秦", 2), ("邱", 2), ("江", 2), ("尹", 2), ("薛", 2), ("闫", 2), ("段", 2),
    ("雷", 2), ("侯", 2), ("龙", 2), ("史", 2), ("陶", 2), ("黎", 2), ("贺", 2), ("顾", 2), ("毛", 2), ("郝", 2),
    ("龚", 2), ("邵", 2), ("万", 1), ("钱", 1), ("严", 1), ("覃", 1), ("武", 1), ("戴", 1), ("莫", 1), ("孔", 1),
    ("向", 1), ("汤", 1), ("欧阳", 1), ("上官", 1), ("司马", 1),
)
GIVEN_NAMES = tuple(
    "伟 强 磊 军 勇 杰 涛 明 超 刚 平 辉 鹏 华 飞 鑫 波 斌 宇 浩 凯 健 俊 帆 旭 宁 龙 林 阳 峰 亮 成 "
    "建国 建华 志强 志明 海涛 晓东 晓明 文博 文杰 子轩 浩然 宇航 俊杰 家豪 天宇 梓豪 一鸣 明轩 志伟 国庆 建军 永强 "
    "春雷 海波 立新 振华 德明 嘉伟 "
    "芳 娜 敏 静 丽 艳 娟 霞 婷 雪 琳 欣 悦 颖 慧 佳 怡 倩 晶 丹 燕 萍 红 玲 "
    "秀英 秀兰 桂英 玉兰 欣怡 梓涵 子涵 雨桐 思彤 佳怡 诗涵 一诺 可欣 雅婷 海燕 红梅 丽娟 晓燕 美玲 淑芬 "
    "静怡 雨萱 梦瑶 婉婷 晓丽 春梅".split())
TRADE_CHARS = "鑫盛华达隆恒丰源泰兴顺诚信嘉锦宏瑞祥福荣优品美尚佳汇联创新科捷易通博远海天宇星辰悦凯金银绿青云"
INDUSTRY_WORDS = {
    "ecommerce": ("电子商务", "网络科技", "电商"), "manufacturing": ("机械制造", "塑胶制品", "五金制品"),
    "retail": ("商贸", "百货"), "food": ("食品", "生鲜", "农产品"), "pharma": ("医药", "生物科技"),
    "electronics": ("电子科技", "数码"), "apparel": ("服饰", "服装", "鞋业"), "documents": ("文化传媒", "办公用品"),
    "other": ("贸易", "实业"),
}
SHOP_GOODS = ("家居", "女装", "童装", "美妆", "零食", "茶叶", "数码", "母婴", "户外", "宠物用品", "鞋包", "百货")
PLATFORMS = ("TB", "PDD", "JD", "DY")
ROADS = ("人民路", "解放路", "中山路", "建设路", "和平路", "新华路", "胜利路", "文化路", "朝阳路", "长江路", "黄河路",
         "光明路", "振兴路", "团结路", "幸福路", "青年路", "工业路", "科技路", "创业路", "迎宾大道", "滨江大道", "世纪大道")
COMMUNITIES = ("阳光花园", "锦绣家园", "翠湖苑", "丽景小区", "金色家园", "碧桂园", "万科城", "幸福里", "东方明珠苑",
               "和谐家园", "书香门第", "绿城花园")
PARKS = ("电商产业园", "物流园", "创业园", "工业园", "科技园", "商贸城", "服装城", "小商品城")
STATIONS = ("菜鸟驿站", "兔喜生活", "妈妈驿站", "中邮驿站", "丰巢快递柜", "近邻宝")
TRUNK_HUBS = ("郑州", "武汉", "济南", "长沙", "西安", "合肥", "南昌", "徐州", "金华", "成都", "沈阳", "石家庄")
CONTACT_TITLES = ("老板", "店长", "仓库主管", "发货专员", "财务", "客服主管", "运营经理", "采购")
TOPICS = ("月结对账", "运费价格调整", "旺季运力保障", "破损件理赔跟进", "时效投诉回访", "新仓库上门揽收", "电子面单对接",
          "退货件处理", "续签合同", "发货量下滑回访", "客户满意度回访", "冷链包装要求")
KEY_ISSUES = ("上月有三票件延误，客户不满", "希望降低续重价格", "大促期间需要加派揽收车", "破损件赔付进度慢",
              "退货件返回时间太长", "希望开通电子面单接口", "对派送员服务态度有投诉", "询问偏远地区附加费")
AGREEMENTS = ("同意续重单价下调0.2元", "大促期间每日加派一次揽收", "三个工作日内完成理赔", "下周安排技术对接",
              "维持现有价格，增加时效承诺", "退货件改为优先处理")
NEXT_ACTIONS = ("发送新报价单", "安排技术人员上门", "跟进理赔结果", "回访确认满意度", "准备续签合同", "核对月结账单")

# service product → (first kg price, price per further kg, promised days)
PRODUCTS = {
    "standard": (8.0, 2.0, 3.0), "economy": (6.0, 1.5, 5.0), "express": (13.0, 4.0, 1.0),
    "heavy": (30.0, 1.2, 5.0), "cold_chain": (20.0, 5.0, 2.0), "same_city": (10.0, 2.0, 0.5),
}
# weights of the products by industry (B) and for persons (C)
PRODUCT_MIX = {
    None: {"standard": 70, "economy": 10, "express": 12, "same_city": 8},
    "ecommerce": {"standard": 72, "economy": 22, "express": 5, "same_city": 1},
    "apparel": {"standard": 70, "economy": 25, "express": 5},
    "food": {"standard": 35, "cold_chain": 45, "express": 15, "same_city": 5},
    "pharma": {"standard": 40, "cold_chain": 30, "express": 30},
    "manufacturing": {"standard": 45, "heavy": 40, "economy": 15},
    "electronics": {"standard": 60, "express": 35, "economy": 5},
    "documents": {"express": 70, "standard": 20, "same_city": 10},
    "retail": {"standard": 65, "economy": 20, "express": 10, "same_city": 5},
    "other": {"standard": 60, "economy": 20, "express": 15, "heavy": 5},
}
B_INDUSTRIES = {"ecommerce": 40, "apparel": 12, "electronics": 10, "food": 10, "retail": 10, "manufacturing": 8,
                "documents": 4, "pharma": 3, "other": 3}
MOBILE_PREFIXES = ("130", "131", "132", "133", "134", "135", "136", "137", "138", "139", "145", "147", "150", "151",
                   "152", "153", "155", "156", "157", "158", "159", "180", "181", "182", "185", "186", "187", "188",
                   "189")

# Regions by province (first two digits of the code), for franchises `crm seed` creates
REGIONS = {
    "EAST": ("华东大区", ("31", "32", "33", "34", "35", "36", "37")),
    "SOUTH": ("华南大区", ("44", "45", "46")),
    "NORTH": ("华北大区", ("11", "12", "13", "14", "15")),
    "CENTRAL": ("华中大区", ("41", "42", "43")),
    "SOUTHWEST": ("西南大区", ("50", "51", "52", "53", "54")),
    "NORTHWEST": ("西北大区", ("61", "62", "63", "64", "65")),
    "NORTHEAST": ("东北大区", ("21", "22", "23")),
}
# Cities by parcel volume (first tier first): where `crm seed` opens franchises and where receivers live
BIG_CITIES = ("310000", "110000", "440100", "440300", "330100", "510100", "500000", "420100", "320500", "320100",
              "120000", "610100", "410100", "430100", "441900", "370200", "330200", "440600", "340100", "370100")


# --- identifiers -----------------------------------------------------------------------------------------------

_CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # GB 32100-2015, as core.models.customer checks it
_CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)  # GB 11714 organisation code
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)  # GB 11643 resident ID
_ID_CHECK = "10X98765432"


def credit_code(district_code: str, serial: int) -> str:
    """A unified social credit code of an enterprise (91) registered in `district_code`."""
    body = f"{serial % 10 ** 8:08d}"
    check = 11 - sum(int(d) * w for d, w in zip(body, _ORG_WEIGHTS)) % 11
    org = body + ("X" if check == 10 else "0" if check == 11 else str(check))
    head = "91" + district_code + org
    total = sum(_CREDIT_ALPHABET.index(ch) * w for ch, w in zip(head, _CREDIT_WEIGHTS))
    return head + _CREDIT_ALPHABET[(31 - total % 31) % 31]


def id_number(district_code: str, birthday: date, serial: int) -> str:
    head = f"{district_code}{birthday:%Y%m%d}{serial % 1000:03d}"
    return head + _ID_CHECK[sum(int(d) * w for d, w in zip(head, _ID_WEIGHTS)) % 11]


def mobile(n: int, salt: int) -> str:
    """The n-th mobile number of a sequence: distinct for distinct n (below 29 × 10^8), spread over prefixes."""
    prefix = MOBILE_PREFIXES[n % len(MOBILE_PREFIXES)]
    return prefix + f"{(n // len(MOBILE_PREFIXES) * 7_368_787 + salt) % 10 ** 8:08d}"


def waybill(shipment_id: int, salt: int) -> str:
    """13 digits as Yunda prints them, distinct for distinct ids (below 10^11)."""
    return f"43{(shipment_id * 7_368_787 + salt) % 10 ** 11:011d}"


# --- the network -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Site:
    """A franchise where data is generated, placed in its home district."""

    franchise_id: int
    code: str
    name: str
    district: str

    @property
    def city(self) -> str:
        return divisions.city_of(self.district).code

    @property
    def city_name(self) -> str:
        return short_name(divisions.city_of(self.district).name)

    @property
    def outlet(self) -> str:
        return self.name.replace("加盟商", "") + "网点"


def short_name(name: str) -> str:
    for suffix in ("新区", "自治县", "市", "区", "县"):
        if name.endswith(suffix) and len(name) > len(suffix) + 1:
            return name[: -len(suffix)]
    return name


def home_district(franchise, taken: int = 0) -> str:
    """The district a franchise works from, read from its name ("杭州余杭加盟商" → 330110) where possible."""
    name = franchise.name or ""
    found = []
    for d in divisions.districts():
        if short_name(d.name) in name:
            city = divisions.city_of(d.code)
            province = divisions.province_of(d.code)
            score = 1 + (short_name(city.name) in name) + (short_name(province.name) in name)
            found.append((-score, d.code))
    if found:
        return min(found)[1]
    choices = expansion_districts()
    return choices[(franchise.id or taken) % len(choices)]


def city_units() -> list[divisions.Division]:
    units = {}
    for d in divisions.districts():
        city = divisions.city_of(d.code)
        units[city.code] = city
    rank = {code: i for i, code in enumerate(BIG_CITIES)}
    return sorted(units.values(), key=lambda c: (rank.get(c.code, len(rank)), c.code))


def expansion_districts() -> list[str]:
    """Districts in the order `crm seed` opens franchises: one per city round-robin, big cities first."""
    per_city = [[d.code for d in divisions.districts(city_code=c.code)] for c in city_units()]
    order = []
    for i in range(max(len(p) for p in per_city)):
        order.extend(p[i] for p in per_city if i < len(p))
    return order


def region_for(district_code: str) -> tuple[str, str]:
    for code, (name, provinces) in REGIONS.items():
        if district_code[:2] in provinces:
            return code, name
    return "EAST", REGIONS["EAST"][0]


def ensure_franchises(count: int) -> list[Site]:
    """The first `count` active franchises (by id), opening new ones in new districts when there are fewer."""
    existing = list(db.session.scalars(select(Franchise).where(Franchise.active.is_(True)).order_by(Franchise.id)))
    sites = [Site(f.id, f.code, f.name, home_district(f, i)) for i, f in enumerate(existing[:count])]
    used = {s.district for s in sites}
    districts = [d for d in expansion_districts() if d not in used] or expansion_districts()
    codes = set(db.session.scalars(select(Franchise.code)))
    names = set(db.session.scalars(select(Franchise.name)))
    regions = {r.code: r for r in db.session.scalars(select(Region))}
    n = 0
    created = []
    while len(sites) + len(created) < count:
        district = districts[n % len(districts)]
        n += 1
        division = divisions.get(district)
        city = divisions.city_of(district)
        base = short_name(city.name) + (short_name(division.name) if division.code != city.code else "")
        name = base + "加盟商"
        k = 2
        while name in names:
            name, k = f"{base}{k}部加盟商", k + 1
        code = f"S{n:04d}"
        while code in codes:
            n += 1
            code = f"S{n:04d}"
        region_code, region_name = region_for(district)
        if region_code not in regions:
            regions[region_code] = Region(code=region_code, name=region_name, active=True)
            db.session.add(regions[region_code])
        franchise = Franchise(code=code, name=name, region=regions[region_code], active=True)
        db.session.add(franchise)
        created.append((franchise, district))
        codes.add(code)
        names.add(name)
    db.session.commit()
    return sites + [Site(f.id, f.code, f.name, d) for f, d in created]


def franchise_people(sites: list[Site]) -> tuple[dict[int, list[int]], dict[int, list[int]]]:
    """Users by franchise: ({franchise id: account manager ids}, {franchise id: every assigned user id})."""
    from flask_appbuilder.security.sqla.models import Role, User, assoc_user_role

    ids = [s.franchise_id for s in sites]
    managers, everyone = {}, {}
    rows = db.session.execute(
        select(user_franchise.c.franchise_id, User.id, Role.name)
        .join(User, User.id == user_franchise.c.user_id)
        .outerjoin(assoc_user_role, assoc_user_role.c.user_id == User.id)
        .outerjoin(Role, Role.id == assoc_user_role.c.role_id)
        .where(user_franchise.c.franchise_id.in_(ids), User.active.is_(True))
        .order_by(User.id)).all()
    for franchise_id, user_id, role in rows:
        people = everyone.setdefault(franchise_id, [])
        if user_id not in people:
            people.append(user_id)
        if role == "Account Manager":
            managers.setdefault(franchise_id, []).append(user_id)
    return managers, everyone


# --- the plan --------------------------------------------------------------------------------------------------


@dataclass
class Plan:
    customers: int
    shipments: int
    seed: int = 1
    days: int = 180
    event_days: int | None = None  # tracking histories of shipments created in the last N days (None: all)
    business_share: float = 0.25  # B customers among customers
    business_parcels: float = 0.85  # parcels sent by B customers
    rates: dict = field(default_factory=lambda: dict(EXCEPTION_RATES))
    now: datetime | None = None


@dataclass
class Report:
    rows: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)

    def add(self, table: str, n: int):
        self.rows[table] = self.rows.get(table, 0) + n


# --- columns as written ----------------------------------------------------------------------------------------

COLUMNS = {
    "crm_customer": ("id", "franchise_id", "kind", "name", "company_name", "credit_code", "license_no", "industry",
                     "billing_mode", "credit_rating", "account_manager_id", "preferred_delivery_time", "tags",
                     "status", "source", "external_id", "district_code", "marketing_opt_out", "phone_enc",
                     "phone_hash", "id_number_enc", "id_number_hash", "created_at", "updated_at", "custom"),
    "crm_contact": ("franchise_id", "customer_id", "name", "title", "email", "is_primary", "note", "phone_enc",
                    "phone_hash", "created_at", "custom"),
    "crm_address": ("franchise_id", "customer_id", "kind", "contact_name", "province_code", "city_code",
                    "district_code", "is_default", "phone_enc", "phone_hash", "detail_enc", "created_at", "custom"),
    "crm_contract": ("franchise_id", "customer_id", "number", "price_table", "discount_percent", "start_date",
                     "end_date", "status", "note", "created_at", "custom"),
    "crm_communication": ("franchise_id", "customer_id", "occurred_at", "channel", "topic", "key_issues",
                          "agreement", "next_action", "next_action_due", "author_id", "created_at", "custom"),
    "crm_shipment": ("id", "franchise_id", "carrier", "waybill_no", "customer_id", "dest_franchise_id",
                     "service_product", "weight_kg", "fee", "receiver_name", "receiver_district_code",
                     "receiver_phone_enc", "receiver_phone_hash", "receiver_address_enc", "external_order_id",
                     "created_at", "promised_at", "status", "status_at", "delivered_at", "custom"),
    "crm_tracking_event": ("franchise_id", "shipment_id", "occurred_at", "status", "provider", "raw_code",
                           "raw_text", "location", "source", "received_at"),
}
TABLES = tuple(COLUMNS)
CHUNK = 20_000
EPOCH = datetime(1970, 1, 1)
_TIMES_OF_DAY = [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}.000000" for s in range(DAY)]


def _cumulative(weights):
    total, out = 0.0, []
    for w in weights:
        total += w
        out.append(total)
    return out


def _picker(rng, mapping: dict):
    """A function returning a key of `mapping` with probability proportional to its value."""
    keys = list(mapping)
    cum = _cumulative(mapping.values())
    total = cum[-1]
    r, bis = rng.random, bisect.bisect
    return lambda: keys[bis(cum, r() * total)]


def _day_weight(ts: int) -> float:
    """Relative parcel volume of a day: quieter weekends, the 618 and Double 11 peaks."""
    local = EPOCH + timedelta(seconds=ts + CHINA_OFFSET)
    weight = (0.8, 1.0, 1.0, 1.0, 1.0, 1.0, 0.9)[(local.weekday() + 1) % 7]
    md = (local.month, local.day)
    if (11, 9) <= md <= (11, 14):
        weight *= 2.0
    elif (6, 16) <= md <= (6, 19):
        weight *= 1.5
    return weight


class Generator:
    """Rows of every table for one plan, as lists of tuples in COLUMNS order, in batches."""

    def __init__(self, plan: Plan, sites: list[Site], vault, first_customer_id: int, first_shipment_id: int,
                 managers=None, people=None):
        if not sites:
            raise ValueError("no franchise to fill")
        self.plan = plan
        self.sites = sites
        self.vault = vault
        self.first_customer_id = first_customer_id
        self.first_shipment_id = first_shipment_id
        self.managers = managers or {}
        self.people = people or {}
        self.now = (plan.now or utcnow()).replace(microsecond=0)
        self.now_ts = int((self.now - EPOCH).total_seconds())
        self.window_start = self.now_ts - plan.days * DAY
        self.event_from = (self.window_start if plan.event_days is None
                           else self.now_ts - plan.event_days * DAY)
        self.salt = random.Random(f"{plan.seed}:salt").randrange(10 ** 8)
        names = random.Random(f"{plan.seed}:names")
        self._surname = _picker(names, dict(SURNAMES))
        self.site_districts = []
        for site in sites:
            in_city = [d.code for d in divisions.districts(city_code=site.city)] or [site.district]
            self.site_districts.append(in_city)
        self.site_city_name = [s.city_name for s in sites]
        self.site_city = [s.city for s in sites]
        self.site_outlet = [s.outlet for s in sites]
        self._days = {}

    # -- small helpers --

    def person_name(self, r) -> str:
        return self._surname() + GIVEN_NAMES[int(r() * len(GIVEN_NAMES))]

    def dt(self, seconds: int) -> datetime:
        return EPOCH + timedelta(seconds=seconds)

    def ts(self, seconds: int) -> str:
        """A timestamp as the text both databases read (SQLAlchemy's SQLite format): cheaper than a datetime."""
        day, second = divmod(seconds, DAY)
        text = self._days.get(day)
        if text is None:
            text = self._days[day] = (EPOCH + timedelta(days=day)).strftime("%Y-%m-%d ")
        return text + _TIMES_OF_DAY[second]

    # -- customers and what hangs off them --

    def customers(self):
        """Batches of (table, rows) for customers, contacts, addresses, contracts and communication records.

        Keeps per customer what the shipments need: site, kind, activity window, weight, products, price.
        """
        plan = self.plan
        rng = random.Random(f"{plan.seed}:customers")
        r, gauss = rng.random, rng.gauss
        n = plan.customers
        now = self.now_ts
        # franchise sizes vary (lognormal), every franchise gets customers
        fr_cum = _cumulative(rng.lognormvariate(0, 0.35) for _ in self.sites)
        fr_total = fr_cum[-1]
        # created over the last three years, ids in creation order
        created = sorted(now - 3 * 365 * DAY + int(r() * (3 * 365 * DAY - HOUR)) for _ in range(n))
        industry_pick = _picker(rng, B_INDUSTRIES)
        rating_pick = _picker(rng, {"AAA": 10, "AA": 25, "A": 35, "B": 20, "C": 10})
        times = (None, "anytime", "morning", "afternoon", "evening", "weekend")
        b_source = {"ecommerce": 55, "api": 20, "phone": 15, "counter": 10}
        b_source_pick = _picker(rng, b_source)
        other_source_pick = _picker(rng, {"phone": 40, "counter": 30, "api": 10, "import": 20})
        c_source_pick = _picker(rng, {"counter": 40, "app": 25, "mini_program": 30, "phone": 5})
        channel_pick = _picker(rng, {"phone": 35, "wechat": 35, "visit": 15, "meeting": 5, "email": 5, "other": 5})
        sigma_b = 1.7  # lognormal: the top 20% of shops send ≈ 80% of the B parcels (1 - Φ(0.84 - σ))

        self.c_site = array("i", bytes(4 * n))
        self.c_kind = bytearray(n)  # 1 = B
        self.c_start = array("q", bytes(8 * n))
        self.c_end = array("q", bytes(8 * n))
        self.c_weight = array("d", bytes(8 * n))
        self.c_industry = [None] * n
        self.c_price = array("d", bytes(8 * n))
        self.c_platform = bytearray(n)  # 0: none, else 1 + index in PLATFORMS
        self.receiver_sample = []  # (name, phone, district) of some persons: they receive parcels too
        sample_rate = min(1.0, 0.2 * self.pool_size() / max(1, n * (1 - plan.business_share)))

        customers, contacts, addresses, contracts, records = [], [], [], [], []
        vault = self.vault
        for k in range(n):
            cid = self.first_customer_id + k
            site_i = bisect.bisect(fr_cum, r() * fr_total)
            site = self.sites[site_i]
            fid = site.franchise_id
            city_districts = self.site_districts[site_i]
            district = site.district if r() < 0.6 else city_districts[int(r() * len(city_districts))]
            born = created[k]
            business = r() < plan.business_share
            phone = mobile(cid, self.salt)
            phone_enc, phone_hash = vault.encrypt(phone), vault.blind_index("phone", phone)
            roll = r()
            status = "prospect" if roll < 0.03 else "dormant" if roll < 0.12 else "lost" if roll < 0.18 else "active"
            start = max(born, self.window_start)
            end = now
            if status == "dormant":
                end = now - int((45 + r() * 75) * DAY)
            elif status == "lost":
                end = now - int((120 + r() * 120) * DAY)
            if status == "prospect" or end <= start:
                end = start
            self.c_site[k] = site_i
            self.c_start[k], self.c_end[k] = start, end
            opt_out = r() < 0.07
            updated = born + int(r() * min(now - born, 90 * DAY))
            if business:
                self.c_kind[k] = 1
                industry = industry_pick()
                self.c_industry[k] = industry
                weight = math.exp(gauss(0, sigma_b))
                trade = TRADE_CHARS[int(r() * len(TRADE_CHARS))] + TRADE_CHARS[int(r() * len(TRADE_CHARS))]
                words = INDUSTRY_WORDS[industry]
                word = words[int(r() * len(words))]
                company = f"{self.site_city_name[site_i]}{trade}{word}有限公司"
                if industry == "ecommerce":
                    name = f"{trade}{SHOP_GOODS[int(r() * len(SHOP_GOODS))]}旗舰店"
                    source = b_source_pick()
                else:
                    name = f"{trade}{word}"
                    source = other_source_pick()
                platform = 0
                external = None
                if source in ("ecommerce", "api") and industry in ("ecommerce", "apparel", "food", "retail"):
                    platform = 1 + int(r() * len(PLATFORMS))
                    external = f"{PLATFORMS[platform - 1]}{int(r() * 10 ** 10):010d}"
                self.c_platform[k] = platform
                code = credit_code(district, cid * 7919 + self.salt)
                big = weight > 4.2  # about the top fifth of shops (e^(0.84 σ))
                has_contract = r() < (0.75 if big else 0.15)
                billing = "monthly" if has_contract or r() < 0.6 else "cash"
                discount = round(5 + r() * (30 if big else 15), 2) if has_contract else 0.0
                self.c_price[k] = (0.45 + r() * 0.2) * (1 - discount / 100)
                tags = ",".join(t for t, keep in (("电商", industry == "ecommerce"), ("大客户", big),
                                                   ("月结", billing == "monthly")) if keep) or None
                managers = self.managers.get(fid)
                manager = managers[cid % len(managers)] if managers else None
                customers.append((cid, fid, "B", name, company, code, code, industry, billing, rating_pick(), manager,
                                  times[int(r() * len(times))], tags, status, source, external, district, opt_out,
                                  phone_enc, phone_hash, None, None, self.ts(born), self.ts(updated), "{}"))
                # contacts: the first is the shop's own number, primary
                count = 1 + (r() < 0.65) + (r() < 0.35) + (r() < 0.15 + 0.2 * big)
                contact_names = []
                for j in range(count):
                    person = self.person_name(r)
                    contact_names.append(person)
                    if j == 0:
                        cphone = (phone_enc, phone_hash)
                    else:
                        number = mobile(cid + (j * 500_000_000), self.salt)
                        cphone = (vault.encrypt(number), vault.blind_index("phone", number))
                    email = f"{int(r() * 9 * 10 ** 8) + 10 ** 8}@qq.com" if r() < 0.4 else None
                    contacts.append((fid, cid, person, CONTACT_TITLES[int(r() * len(CONTACT_TITLES))], email, j == 0,
                                     "工作日 9:00-18:00 联系" if r() < 0.2 else None, cphone[0], cphone[1],
                                     self.ts(born + 60 + int(r() * HOUR)), "{}"))
                addresses.append(self._address(fid, cid, "sender", contact_names[0], (phone_enc, phone_hash),
                                               district, True, born, r, business=True))
                if r() < 0.5:
                    addresses.append(self._address(fid, cid, "return", contact_names[-1], (phone_enc, phone_hash),
                                                   district, False, born, r, business=True))
                if has_contract:
                    contracts.extend(self._contracts(fid, site.code, cid, born, discount, r))
                visits = int(r() * (3 + 6 * big)) if status != "prospect" else int(r() * 2)
                for _ in range(visits):
                    record = self._record(fid, cid, max(born, self.window_start), r, channel_pick)
                    if record is not None:
                        records.append(record)
            else:
                self.c_industry[k] = None
                weight = math.exp(gauss(0, 0.8))
                self.c_price[k] = 1.0
                name = self.person_name(r)
                source = c_source_pick()
                id_enc = id_hash = None
                if r() < 0.6:  # real-name registration at the counter
                    birthday = date(1960, 1, 1) + timedelta(days=int(r() * 16000))
                    number = id_number(district, birthday, int(r() * 1000))
                    id_enc, id_hash = vault.encrypt(number), vault.blind_index("id_number", number)
                customers.append((cid, fid, "C", name, None, None, None, None, "cash", None, None,
                                  times[int(r() * len(times))], None, status, source, None, district, opt_out,
                                  phone_enc, phone_hash, id_enc, id_hash, self.ts(born), self.ts(updated), "{}"))
                if r() < 0.4:
                    addresses.append(self._address(fid, cid, "sender", name, (phone_enc, phone_hash), district, True,
                                                   born, r))
                if r() < 0.03 and status != "prospect":
                    record = self._record(fid, cid, max(born, self.window_start), r, channel_pick)
                    if record is not None:
                        records.append(record)
                if r() < sample_rate:
                    self.receiver_sample.append((name, district, phone_enc, phone_hash))
            self.c_weight[k] = 0.0 if end <= start else weight
            if len(customers) >= CHUNK:
                yield from self._flush(customers, contacts, addresses, contracts, records)
                customers, contacts, addresses, contracts, records = [], [], [], [], []
        yield from self._flush(customers, contacts, addresses, contracts, records)

    @staticmethod
    def _flush(customers, contacts, addresses, contracts, records):
        for table, rows in (("crm_customer", customers), ("crm_contact", contacts), ("crm_address", addresses),
                            ("crm_contract", contracts), ("crm_communication", records)):
            if rows:
                yield table, rows

    def _address(self, fid, cid, kind, contact, phone, district, default, born, r, business=False):
        """`phone` is (ciphertext, blind index) of a number stored already: the same value, encrypted once."""
        road = ROADS[int(r() * len(ROADS))]
        if business:
            detail = f"{road}{1 + int(r() * 300)}号{PARKS[int(r() * len(PARKS))]}{1 + int(r() * 20)}栋{1 + int(r() * 6)}楼"
        else:
            detail = (f"{road}{1 + int(r() * 300)}号{COMMUNITIES[int(r() * len(COMMUNITIES))]}"
                      f"{1 + int(r() * 30)}栋{1 + int(r() * 4)}单元{1 + int(r() * 30)}0{1 + int(r() * 4)}室")
        city = divisions.city_of(district)
        province = divisions.province_of(district)
        return (fid, cid, kind, contact, province.code, city.code, district, default, phone[0], phone[1],
                self.vault.encrypt(detail), self.ts(born + 120), "{}")

    def _contracts(self, fid, code, cid, born, discount, r):
        first = max(born, self.now_ts - 700 * DAY)
        start = self.dt(first + int(r() * min(60 * DAY, self.now_ts - first))).date()
        today = self.now.date()
        rows = []
        while start <= today:
            end = start.replace(year=start.year + 1) - timedelta(days=1) if start.month != 2 or start.day != 29 \
                else date(start.year + 1, 2, 28)
            status = "active" if end >= today else ("terminated" if r() < 0.1 else "expired")
            prices = (f"江浙沪 首重1kg: {4.5 * (1 - discount / 100):.2f}\n江浙沪 续重每kg: 1.00\n"
                      f"全国 首重1kg: {6.0 * (1 - discount / 100):.2f}\n全国 续重每kg: 2.00\n偏远地区 首重1kg: 15.00")
            signed = max(self.dt(born), datetime.combine(start, datetime.min.time()) - timedelta(days=3))
            rows.append((fid, cid, f"HT{code}{start.year}{cid:07d}", prices, f"{discount:.2f}", start, end, status,
                         None, self.ts(int((signed - EPOCH).total_seconds())), "{}"))
            start = end + timedelta(days=1)
        return rows

    def _record(self, fid, cid, earliest, r, channel_pick):
        latest = self.now_ts - HOUR
        if earliest >= latest:
            return None
        at = earliest + int(r() * (latest - earliest))
        due = None
        action = None
        if r() < 0.45:
            action = NEXT_ACTIONS[int(r() * len(NEXT_ACTIONS))]
            due = (self.dt(at) + timedelta(days=3 + int(r() * 27))).date()
        people = self.managers.get(fid) or self.people.get(fid)
        author = people[int(r() * len(people))] if people else None
        return (fid, cid, self.ts(at), channel_pick(), TOPICS[int(r() * len(TOPICS))],
                KEY_ISSUES[int(r() * len(KEY_ISSUES))], AGREEMENTS[int(r() * len(AGREEMENTS))] if r() < 0.7 else None,
                action, due, author, self.ts(at + 300 + int(r() * 7200)), "{}")

    # -- receivers --

    def pool_size(self) -> int:
        return max(500, min(self.plan.shipments // 10, 300_000))

    def receivers(self):
        """Receivers, encrypted once and reused: names, phones, districts, addresses, destination franchise."""
        rng = random.Random(f"{self.plan.seed}:receivers")
        r = rng.random
        cities = city_units()
        rank = {code: i for i, code in enumerate(BIG_CITIES)}
        weights = [6 if rank.get(c.code, 99) < 4 else 3 if c.code in rank else 1 for c in cities]
        city_cum, total = _cumulative(weights), sum(weights)
        city_districts = {c.code: [d.code for d in divisions.districts(city_code=c.code)] for c in cities}
        by_district, by_city = {}, {}
        for i, site in enumerate(self.sites):
            by_district.setdefault(site.district, []).append(i)
            by_city.setdefault(site.city, []).append(i)
        size = self.pool_size()
        pool = []
        sample = self.receiver_sample[: size // 5]
        for j in range(size):
            if j < len(sample):  # a person who is a customer too: the same number, the same ciphertext
                name, district, phone_enc, phone_hash = sample[j]
            else:
                city = cities[bisect.bisect(city_cum, r() * total)]
                options = city_districts[city.code]
                district = options[int(r() * len(options))]
                name = self.person_name(r)
                phone = mobile(2_000_000_000 + j, self.salt)
                phone_enc, phone_hash = self.vault.encrypt(phone), self.vault.blind_index("phone", phone)
            road = ROADS[int(r() * len(ROADS))]
            detail = (f"{road}{1 + int(r() * 300)}号{COMMUNITIES[int(r() * len(COMMUNITIES))]}"
                      f"{1 + int(r() * 30)}栋{1 + int(r() * 4)}单元{1 + int(r() * 30)}0{1 + int(r() * 4)}室")
            city_code = divisions.city_of(district).code
            home = by_district.get(district) or by_city.get(city_code)
            site_i = home[j % len(home)] if home else None
            division = divisions.get(district)
            dest_city = short_name(divisions.city_of(district).name)
            outlet = (self.sites[site_i].outlet if site_i is not None
                      else f"{dest_city}{short_name(division.name)}营业部")
            station = f"{STATIONS[int(r() * len(STATIONS))]}（{COMMUNITIES[int(r() * len(COMMUNITIES))]}店）"
            pool.append((name, district, phone_enc, phone_hash, self.vault.encrypt(detail), None if site_i is None else self.sites[site_i].franchise_id,
                         city_code, dest_city, outlet, station))
        self.pool = pool
        self.pool_by_city = {}
        for j, entry in enumerate(pool):
            self.pool_by_city.setdefault(entry[6], []).append(j)

    # -- shipments --

    def shipment_counts(self) -> list[int]:
        """Parcels per customer: weight × active days, B and C each scaled to their share, rounded so the
        total is exactly the plan's (systematic rounding)."""
        plan = self.plan
        n = plan.customers
        if not n:
            return []  # shipments need senders
        w_b = sum(self.c_weight[k] * (self.c_end[k] - self.c_start[k]) for k in range(n) if self.c_kind[k])
        w_c = sum(self.c_weight[k] * (self.c_end[k] - self.c_start[k]) for k in range(n) if not self.c_kind[k])
        m_b = round(plan.shipments * plan.business_parcels) if w_b and w_c else (plan.shipments if w_b else 0)
        m_c = plan.shipments - m_b if w_c else 0
        if not w_b and not w_c:
            return [0] * n
        if not w_c:
            m_b = plan.shipments
        scale_b = m_b / w_b if w_b else 0.0
        scale_c = m_c / w_c if w_c else 0.0
        counts = [0] * n
        offset = random.Random(f"{plan.seed}:counts").random()
        acc, prev = 0.0, 0
        for k in range(n):
            acc += self.c_weight[k] * (self.c_end[k] - self.c_start[k]) * (scale_b if self.c_kind[k] else scale_c)
            cur = int(acc + offset)
            counts[k] = cur - prev
            prev = cur
        short = plan.shipments - sum(counts)  # float rounding: at most one or two
        if short:
            busiest = max(range(n), key=lambda k: counts[k])
            counts[busiest] = max(0, counts[busiest] + short)
        return counts

    def shipment_times(self):
        """[(times, customers)] per day of the window, in time order within each day."""
        rng = random.Random(f"{self.plan.seed}:times")
        r = rng.random
        days = self.plan.days + 1
        start0 = self.window_start
        weights = [_day_weight(start0 + d * DAY) for d in range(days)]
        top = max(weights)
        bucket_t = [array("q") for _ in range(days)]
        bucket_c = [array("i") for _ in range(days)]
        latest = self.now_ts - 60
        for k, n in enumerate(self.shipment_counts()):
            if not n:
                continue
            s = self.c_start[k]
            span = max(1, min(self.c_end[k], latest) - s)
            for _ in range(n):
                while True:
                    t = s + int(r() * span)
                    d = (t - start0) // DAY
                    if r() * top < weights[d]:
                        break
                bucket_t[d].append(t)
                bucket_c[d].append(k)
        for times, owners in zip(bucket_t, bucket_c):
            order = sorted(range(len(times)), key=times.__getitem__)
            yield [times[i] for i in order], [owners[i] for i in order]

    def shipments(self):
        """Batches of ("crm_shipment", rows) and ("crm_tracking_event", rows), shipment ids in time order."""
        plan = self.plan
        rng = random.Random(f"{plan.seed}:shipments")
        r, gauss, exp = rng.random, rng.gauss, math.exp
        self.receivers()
        pool, pool_by_city = self.pool, self.pool_by_city
        pool_n = len(pool)
        pickers = {industry: _picker(rng, mix) for industry, mix in PRODUCT_MIX.items()}
        rates = plan.rates
        # a story per shipment from a low-discrepancy sequence: the rates come out exact, not just on average
        bounds = _cumulative((rates["lost"], rates["damaged"], rates["refused"], rates["returned"],
                              rates["failed_attempt"]))
        golden = (math.sqrt(5) - 1) / 2
        phase = random.Random(f"{plan.seed}:stories").random()
        sid = self.first_shipment_id
        ordinal = 0
        now = self.now_ts
        event_from = self.event_from
        shipments, events = [], []
        site_fid = [site.franchise_id for site in self.sites]
        site_city = self.site_city
        c_site, c_industry, c_price, c_platform = self.c_site, self.c_industry, self.c_price, self.c_platform
        first_customer, salt = self.first_customer_id, self.salt
        ts, append = self.ts, shipments.append
        book = journey_book(plan.seed)
        promised = {product: int(days * DAY) for product, (_, _, days) in PRODUCTS.items()}
        for times, owners in self.shipment_times():
            for t, k in zip(times, owners):
                site_i = c_site[k]
                fid = site_fid[site_i]
                story = bisect.bisect(bounds, (phase + ordinal * golden) % 1.0)
                ordinal += 1
                product = pickers[c_industry[k]]()
                if product == "same_city" and site_city[site_i] in pool_by_city:
                    local = pool_by_city[site_city[site_i]]
                    receiver = pool[local[int(r() * len(local))]]
                else:
                    receiver = pool[int(r() * pool_n)]
                if product == "heavy":
                    weight = 20 + exp(gauss(3, 0.8))
                else:
                    weight = min(30.0, 0.05 + exp(gauss(-0.4, 0.8)))
                first, per_kg, _ = PRODUCTS[product]
                fee = (first + per_kg * (int(weight + 0.999) - 1 if weight > 1 else 0)) * c_price[k]
                platform = c_platform[k]
                external = (f"{PLATFORMS[platform - 1]}{int(r() * 10 ** 16):016d}"
                            if platform and r() < 0.8 else None)
                paths = book[story][(t + CHINA_OFFSET) % DAY // HOUR]
                path = paths[int(r() * len(paths))]
                if t + path[-1][2] <= now:
                    status, _, status_t = path[-1]
                else:  # still on its way: what has happened by now
                    path = [step for step in path if t + step[2] <= now]
                    status, _, status_t = path[-1]
                status_t += t
                status_at = ts(status_t)
                append((sid, fid, "CRM", waybill(sid, salt), first_customer + k, receiver[5], product,
                        round(weight, 3), round(fee, 2), receiver[0], receiver[1], receiver[2], receiver[3],
                        receiver[4], external, ts(t), ts(t + promised[product]), status, status_at,
                        status_at if status == "DELIVERED" else None, "{}"))  # delivery ends every journey
                if t >= event_from:
                    events.extend(self._events(fid, sid, t, path, site_i, receiver, r))
                sid += 1
                if len(shipments) >= CHUNK:
                    yield "crm_shipment", shipments
                    if events:
                        yield "crm_tracking_event", events
                    shipments, events = [], []
                    append = shipments.append
        if shipments:
            yield "crm_shipment", shipments
        if events:
            yield "crm_tracking_event", events

    def _events(self, fid, sid, created, path, site_i, receiver, r):
        origin = self.site_city_name[site_i]
        outlet = self.site_outlet[site_i]
        dest_city, dest_outlet, station = receiver[7], receiver[8], receiver[9]
        ts = self.ts
        rows = []
        hop = 0
        hubs = [origin, TRUNK_HUBS[sid % len(TRUNK_HUBS)], TRUNK_HUBS[(sid // 7) % len(TRUNK_HUBS)], dest_city]
        for status, code, at in path:
            at += created
            courier = f"1{'3589'[int(r() * 4)]}{int(r() * 10)}****{int(r() * 10000):04d}"
            if status == "CREATED":
                text, place = f"【{origin}】您的快件已下单，等待揽收", origin
            elif status == "PICKED_UP":
                text, place = f"【{origin}】【{outlet}】快递员（{courier}）已揽收", origin
            elif status == "IN_TRANSIT":
                hub = hubs[min(hop // 2, 3)] if hop < 6 else dest_city
                text = (f"【{hub}】快件已到达【{hub}转运中心】" if hop % 2 == 0
                        else f"【{hub}】快件已从【{hub}转运中心】发出，下一站【{hubs[min(hop // 2 + 1, 3)]}】")
                place = hub
                hop += 1
            elif status == "ARRIVED_DEST":
                text, place = f"【{dest_city}】快件已到达【{dest_outlet}】", dest_city
            elif status == "OUT_FOR_DELIVERY":
                text, place = f"【{dest_city}】【{dest_outlet}】派件员（{courier}）正在为您派件", dest_city
            elif status == "HELD_AT_STATION":
                text = f"【{dest_city}】您的快件已存放至【{station}】，请凭取件码取件，有疑问请联系{courier}"
                place = dest_city
            elif status == "DELIVERED":
                text = (f"【{dest_city}】快件已从【{station}】取出，已签收" if code == "304"
                        else f"【{dest_city}】快件已签收，签收人：本人，感谢使用")
                place = dest_city
            elif status == "FAILED_ATTEMPT":
                text, place = f"【{dest_city}】派件异常：收件人电话无人接听，快件将再次派送", dest_city
            elif status == "REFUSED":
                text, place = f"【{dest_city}】收件人拒收，快件将退回寄件人", dest_city
            elif status == "ADDRESS_PROBLEM":
                text, place = f"【{dest_city}】收件地址超出派送范围，已联系寄件人", dest_city
            elif status == "RETURNING":
                text, place = f"【{dest_city}】快件已安排退回寄件人", dest_city
            elif status == "RETURNED":
                text, place = f"【{origin}】退回件已由寄件人签收", origin
            elif status == "DAMAGED":
                text, place = "快件外包装破损，已登记并拍照留存", hubs[1]
            elif status == "DELAYED":
                text, place = "快件超时未更新，已发起查件", hubs[1]
            else:  # LOST
                text, place = "快件遗失，已启动理赔流程", hubs[1]
            rows.append((fid, sid, ts(at), status, "kuaidi100", code, text, place, "demo",
                         ts(at + 5 + int(r() * 300))))
        return rows


# distinct journeys per story and creation hour (story numbers as in _journey)
JOURNEYS_PER_HOUR = (4, 8, 24, 48, 48, 512)


def journey_book(seed: int) -> list[list[list[tuple]]]:
    """Journeys by story and by the Beijing hour a shipment is created in, as (status, code, seconds after
    creation). A shipment takes one of them: over 13,000 distinct paths, and a tenth of the time of drawing a
    path per shipment (the courier's working hours depend on the hour of creation, hence the hour)."""
    r = random.Random(f"{seed}:journeys").random
    book = []
    for story, count in enumerate(JOURNEYS_PER_HOUR):
        by_hour = []
        for hour in range(24):
            paths = []
            for _ in range(count):
                created = 10 * DAY + hour * HOUR - CHINA_OFFSET + int(r() * HOUR)
                paths.append(tuple((status, code, at - created) for status, code, at in _journey(r, story, created)))
            by_hour.append(paths)
        book.append(by_hour)
    return book


def _journey(r, story: int, t: int) -> list[tuple[str, str, int]]:
    """[(status, Kuaidi100 code, time)] of a shipment created at `t` (seconds), in order, including what has not
    happened yet. Stories: 0 lost, 1 damaged, 2 refused, 3 returned, 4 failed attempt, 5 normal."""
    steps = [("CREATED", "101", t)]
    t += HOUR + int(r() * 5 * HOUR)
    steps.append(("PICKED_UP", "103", t))
    hops = 3 + int(r() * 4)
    trouble_hop = 1 + int(r() * (hops - 1))
    for h in range(hops):
        t += 4 * HOUR + int(r() * 5 * HOUR)
        steps.append(("IN_TRANSIT", "1002", t))
        if h == trouble_hop:
            if story == 0:  # lost: silence, then given up
                t += 3 * DAY + int(r() * 2 * DAY)
                steps.append(("DELAYED", "202", t))
                t += 4 * DAY + int(r() * 3 * DAY)
                steps.append(("LOST", "2", t))
                return steps
            if story == 1:
                t += HOUR + int(r() * 2 * HOUR)
                steps.append(("DAMAGED", "209", t))
                if r() < 0.4:  # stays open as a claim
                    return steps
            if story == 3 and r() < 0.7:  # the sender intercepts the parcel on its way
                t += HOUR + int(r() * 6 * HOUR)
                steps.append(("RETURNING", "6", t))
                return _returned(r, steps, t)
    t += 2 * HOUR + int(r() * 4 * HOUR)
    steps.append(("ARRIVED_DEST", "1001", t))
    if story == 3:  # address outside the delivery area
        t += HOUR + int(r() * 4 * HOUR)
        steps.append(("ADDRESS_PROBLEM", "207", t))
        t += 4 * HOUR + int(r() * 20 * HOUR)
        steps.append(("RETURNING", "6", t))
        return _returned(r, steps, t)
    t = _daytime(t + HOUR // 2 + int(r() * 2 * HOUR), r)
    steps.append(("OUT_FOR_DELIVERY", "5", t))
    if story == 2:
        t += HOUR // 2 + int(r() * 3 * HOUR)
        steps.append(("REFUSED", "203", t))
        t += 2 * HOUR + int(r() * 10 * HOUR)
        steps.append(("RETURNING", "6", t))
        return _returned(r, steps, t)
    if story == 4:
        t += HOUR + int(r() * 4 * HOUR)
        steps.append(("FAILED_ATTEMPT", "206", t))
        if r() < FAILED_THEN_RETURNED:
            t += 12 * HOUR + int(r() * 24 * HOUR)
            steps.append(("RETURNING", "6", t))
            return _returned(r, steps, t)
        t = _daytime(t + 14 * HOUR + int(r() * 6 * HOUR), r)
        steps.append(("OUT_FOR_DELIVERY", "5", t))
    if r() < 0.6:  # locker or station: very common in cities
        t += HOUR // 2 + int(r() * 3 * HOUR)
        steps.append(("HELD_AT_STATION", "501", t))
        t += HOUR + int(r() * 30 * HOUR)
        steps.append(("DELIVERED", "304", t))
    else:
        t += HOUR // 3 + int(r() * 3 * HOUR)
        steps.append(("DELIVERED", "301", t))
    return steps


def _returned(r, steps, t):
    t += DAY + int(r() * 3 * DAY)
    steps.append(("RETURNED", "4", t))
    return steps


def _daytime(t: int, r) -> int:
    """Couriers go out between 8:00 and 19:00 Beijing time: a later or earlier time moves to the next morning."""
    hour = ((t + CHINA_OFFSET) % DAY) / HOUR
    if 8 <= hour < 19:
        return t
    wait = (24 - hour + 8) if hour >= 19 else (8 - hour)
    return t + int(wait * HOUR) + int(r() * 1.5 * HOUR)


# --- writing -----------------------------------------------------------------------------------------------------


class _SqliteWriter:
    def __init__(self, engine, report: Report, log):
        self.engine, self.report, self.log = engine, report, log

    def __enter__(self):
        self.raw = self.engine.raw_connection()
        self.cursor = self.raw.cursor()
        return self

    def next_id(self, table: str) -> int:
        self.cursor.execute(f"SELECT coalesce(max(id), 0) + 1 FROM {table}")
        return self.cursor.fetchone()[0]

    def write(self, table: str, rows):
        columns = COLUMNS[table]
        types = db.metadata.tables[table].c
        convert = [i for i, name in enumerate(columns)
                   if types[name].type.python_type in (datetime, date, bool)]
        if convert:
            rows = [_sqlite_row(row, convert) for row in rows]
        marks = ", ".join("?" * len(columns))
        self.cursor.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)
        self.report.add(table, len(rows))

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None:
                self.raw.commit()
            else:
                self.raw.rollback()
        finally:
            self.raw.close()


def _sqlite_value(value):
    # the text SQLAlchemy's SQLite types store and compare against
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return int(value)
    return value


def _sqlite_row(row, convert):
    row = list(row)
    for i in convert:
        if row[i] is not None:
            row[i] = _sqlite_value(row[i])
    return row


class _PostgresWriter:
    """COPY into the domain tables in one transaction. For a table that is small against the load, its
    secondary indexes, unique constraints and foreign keys are dropped first and rebuilt after (one sort per
    index instead of 10M index insertions, one join per foreign key instead of 10M lookups); when every table
    is empty and nothing else references them they are truncated in the transaction so COPY can FREEZE
    (rows written frozen and all-visible: no hint-bit rewrite, index-only scans at once).

    A thread sends each batch while the next one is generated: the database ingests on one core while
    Python generates on the other (psycopg waits for the server without holding the GIL)."""

    def __init__(self, engine, report: Report, log, planned: dict[str, int]):
        self.engine, self.report, self.log, self.planned = engine, report, log, planned
        self.rebuild: list[tuple[str, str, str]] = []  # (kind, table, SQL)
        self.freeze = False
        self.batches: queue.Queue = queue.Queue(maxsize=2)
        self.sender: threading.Thread | None = None
        self.failure: BaseException | None = None

    def __enter__(self):
        self.raw = self.engine.raw_connection()
        self.conn = self.raw.driver_connection
        self.cursor = self.conn.cursor()
        self.conn.execute("SET LOCAL maintenance_work_mem = '1GB'")
        self.conn.execute("SET LOCAL synchronous_commit = off")
        self._prepare()
        return self

    def _rows(self, table: str) -> int:
        return self.conn.execute(f"SELECT count(*) FROM (SELECT 1 FROM {table} LIMIT 1000000) t").fetchone()[0]

    def _referencing(self, tables) -> list[str]:
        """Tables of plugins and other modules that reference ours, directly or through each other (tickets,
        claims, their evidence ...): a TRUNCATE must name them all."""
        known, found, frontier = set(tables), [], list(tables)
        while frontier:
            rows = self.conn.execute(
                "SELECT DISTINCT conrelid::regclass::text FROM pg_constraint WHERE contype = 'f' "
                "AND confrelid::regclass::text = ANY(%s)", (frontier,)).fetchall()
            frontier = [name for (name,) in rows if name not in known]
            known.update(frontier)
            found += frontier
        return found

    def _prepare(self):
        existing = {t: self._rows(t) for t in TABLES}
        outside = self._referencing(TABLES)
        for table in TABLES:
            if self.planned.get(table, 0) < max(existing[table], 50_000):
                continue  # a small addition: keeping the indexes is cheaper
            for name, definition in self.conn.execute(
                    "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                    "WHERE conrelid = %s::regclass AND contype IN ('f', 'u') ORDER BY contype DESC, conname",
                    (table,)).fetchall():
                self.conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
                self.rebuild.append(("constraint", table, f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}'))
            for name, definition in self.conn.execute(
                    "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
                    "WHERE x.indrelid = %s::regclass AND NOT x.indisprimary AND NOT EXISTS ("
                    "SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid AND c.conrelid = x.indrelid) "
                    "ORDER BY i.relname", (table,)).fetchall():
                self.conn.execute(f'DROP INDEX "{name}"')
                self.rebuild.append(("index", table, definition))
        if not any(existing.values()) and not any(self._rows(name) for name in outside):
            # all empty: truncating changes no data and lets COPY write frozen rows
            self.conn.execute("TRUNCATE " + ", ".join(TABLES + tuple(outside)))
            self.freeze = True
        # indexes first (the unique constraints build theirs), foreign keys last
        self.rebuild.sort(key=lambda item: (item[0] == "constraint" and "FOREIGN KEY" in item[2]))

    def next_id(self, table: str) -> int:
        return self.conn.execute(f"SELECT coalesce(max(id), 0) + 1 FROM {table}").fetchone()[0]

    def write(self, table: str, rows):
        if self.failure is not None:
            raise self.failure
        if self.sender is None:
            self.sender = threading.Thread(target=self._send, name="crm-seed-copy", daemon=True)
            self.sender.start()
        self.batches.put((table, rows))

    def _send(self):
        options = " WITH (FREEZE)" if self.freeze else ""
        try:
            while (batch := self.batches.get()) is not None:
                table, rows = batch
                with self.cursor.copy(f"COPY {table} ({', '.join(COLUMNS[table])}) FROM STDIN{options}") as copy:
                    write_row = copy.write_row
                    for row in rows:
                        write_row(row)
                self.report.add(table, len(rows))
        except BaseException as exc:  # noqa: BLE001 - handed to the generating thread
            self.failure = exc
            while self.batches.get() is not None:  # let the generator finish putting
                pass

    def _drain(self):
        if self.sender is not None:
            self.batches.put(None)
            self.sender.join()
            self.sender = None
        if self.failure is not None:
            raise self.failure

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is not None:
                with contextlib.suppress(BaseException):  # the generator's error is the one to report
                    self._drain()
                self.raw.rollback()
                return
            self._drain()
            started = time.perf_counter()
            for kind, table, sql in self.rebuild:
                begun = time.perf_counter()
                self.conn.execute(sql)
                self.log(f"  rebuilt {kind} on {table} in {time.perf_counter() - begun:.1f} s: {sql[:90]}")
            self.report.seconds["indexes and constraints"] = time.perf_counter() - started
            for table in ("crm_customer", "crm_shipment", "crm_contact", "crm_address", "crm_contract",
                          "crm_communication", "crm_tracking_event"):
                self.conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                  f"coalesce((SELECT max(id) FROM {table}), 0) + 1, false)")
            self.raw.commit()
            started = time.perf_counter()
            for table in TABLES:
                self.conn.execute(f"ANALYZE {table}")
            self.raw.commit()
            self.report.seconds["analyze"] = time.perf_counter() - started
        finally:
            self.raw.close()


# --- entry point -------------------------------------------------------------------------------------------------


def seed(app, plan: Plan, sites: list[Site], log=lambda message: None) -> Report:
    """Generate `plan` into the franchises `sites` (adds to what is there). Returns the rows written per table
    and the seconds per phase. Run inside an app context."""
    report = Report()
    managers, people = franchise_people(sites)
    db.session.commit()  # the session must hold no locks: the bulk connection alters these tables
    vault = vault_for(app.config["CRM_ENCRYPTION_KEY"])
    engine = db.engine
    events_share = 1.0 if plan.event_days is None else min(1.0, plan.event_days / plan.days)
    planned = {"crm_customer": plan.customers, "crm_contact": plan.customers // 2,
               "crm_address": plan.customers // 2, "crm_contract": plan.customers // 20,
               "crm_communication": plan.customers // 2, "crm_shipment": plan.shipments,
               "crm_tracking_event": int(plan.shipments * 9 * events_share)}
    if engine.dialect.name == "postgresql":
        writer = _PostgresWriter(engine, report, log, planned)
    else:
        writer = _SqliteWriter(engine, report, log)
    started = time.perf_counter()
    with writer:
        generator = Generator(plan, sites, vault, writer.next_id("crm_customer"), writer.next_id("crm_shipment"),
                              managers, people)
        for table, rows in generator.customers():
            writer.write(table, rows)
        report.seconds["customers"] = time.perf_counter() - started
        log(f"  customers and their contacts, addresses, contracts, records: {report.seconds['customers']:.1f} s")
        begun = time.perf_counter()
        for table, rows in generator.shipments():
            writer.write(table, rows)
        report.seconds["shipments"] = time.perf_counter() - begun
        log(f"  shipments and tracking events: {report.seconds['shipments']:.1f} s")
    report.seconds["total"] = time.perf_counter() - started
    # rows written past the ORM have no entry each: one entry says what was generated
    db.session.add(audit_entry(action="import", model="Customer", changes={"generated": [None, dict(report.rows)]},
                               reason=f"generated data (core.seeding, seed {plan.seed})"))
    db.session.commit()
    if plan.shipments and not plan.customers:
        report.notes.append("no shipments without customers to send them")
    if plan.event_days is not None and plan.event_days < plan.days:
        report.notes.append(f"tracking histories for shipments of the last {plan.event_days} days only")
    return report
