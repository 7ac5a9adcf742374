"""Demo network for `crm demo`: regions, franchises, a user per role and a realistic business (customers,
contacts, addresses, contracts, records, shipments with tracking histories). Running it again keeps data."""

from __future__ import annotations

import re
import time

from sqlalchemy import func, select

from core import seeding
from core.extensions import db
from core.models import Customer
from core.plugins import PluginActivation, set_activation
from core.roles import templates_with_plugins
from core.tenancy import Franchise, Region

DEMO_PASSWORD = "demo12345"
DEMO_CUSTOMERS = 3000
DEMO_SHIPMENTS = 30000
DEMO_SEED = 20240601

NETWORK = {
    ("EAST", "华东大区"): [("SH01", "上海浦东加盟商"), ("SH02", "上海闵行加盟商"), ("HZ01", "杭州余杭加盟商"),
                        ("NJ01", "南京江宁加盟商")],
    ("SOUTH", "华南大区"): [("GZ01", "广州白云加盟商"), ("SZ01", "深圳宝安加盟商"), ("SZ02", "深圳龙岗加盟商"),
                         ("DG01", "东莞长安加盟商")],
    ("NORTH", "华北大区"): [("BJ01", "北京朝阳加盟商"), ("BJ02", "北京大兴加盟商"), ("TJ01", "天津武清加盟商"),
                         ("SJZ01", "石家庄裕华加盟商")],
}

# where each franchise works from (GB/T 2260 district): its customers live in that city
HOME_DISTRICTS = {"SH01": "310115", "SH02": "310112", "HZ01": "330110", "NJ01": "320115", "GZ01": "440111",
                  "SZ01": "440306", "SZ02": "440307", "DG01": "441900", "BJ01": "110105", "BJ02": "110115",
                  "TJ01": "120114", "SJZ01": "130108"}

# username, role, franchise codes, managed region codes
USERS = [
    ("hq", "HQ Admin", [], []),
    ("east_manager", "Outlet Manager", [], ["EAST"]),
    ("sh01_it", "Franchise IT", ["SH01"], []),
    ("sh01_outlet", "Outlet Manager", ["SH01"], []),
    ("sh01_account", "Account Manager", ["SH01"], []),
    ("sh01_agent", "Frontline Agent", ["SH01"], []),
    ("gz01_it", "Franchise IT", ["GZ01"], []),
    ("gz01_agent", "Frontline Agent", ["GZ01"], []),
]


def seed_demo(app, log=lambda message: None) -> list[tuple[str, str, str]]:
    """Create what is missing; returns (username, role, where) for every demo login."""
    regions, franchises = {}, {}
    for (region_code, region_name), members in NETWORK.items():
        region = db.session.scalar(select(Region).where(Region.code == region_code))
        if region is None:
            region = Region(code=region_code, name=region_name, active=True)
            db.session.add(region)
        regions[region_code] = region
        for code, name in members:
            franchise = db.session.scalar(select(Franchise).where(Franchise.code == code))
            if franchise is None:
                franchise = Franchise(code=code, name=name, region=region, active=True)
                db.session.add(franchise)
            franchises[code] = franchise
    db.session.commit()

    sm = app.appbuilder.sm
    logins = []
    for username, role_name, franchise_codes, region_codes in USERS:
        user = sm.find_user(username=username)
        if user is None:
            role = sm.find_role(role_name)
            user = sm.add_user(username, username, "demo", f"{username}@demo.invalid", role, DEMO_PASSWORD)
            user.franchises = [franchises[c] for c in franchise_codes]
            user.managed_regions = [regions[c] for c in region_codes]
        where = ", ".join([f"region {c}" for c in region_codes] + franchise_codes) or "all franchises"
        logins.append((username, role_name, where))
    logins += _users_for_other_roles(app, franchises["SH01"], {role for _, role, _, _ in USERS})
    # switch every plugin on everywhere, unless someone already decided where it runs
    decided = set(db.session.scalars(select(PluginActivation.plugin)))
    for name in app.extensions["crm_plugins"].plugins:
        if name not in decided:
            set_activation(name, enabled=True, user="demo")
    db.session.commit()
    _seed_business(app, franchises, log)
    ids = [f.id for f in franchises.values()]
    for lines in app.extensions["crm_plugins"].hook.crm_demo(app=app, franchise_ids=ids):
        for line in lines or []:
            log(line)
    db.session.commit()
    return logins


def _users_for_other_roles(app, franchise, covered) -> list[tuple[str, str, str]]:
    """A demo login in SH01 for every role template (plugins add some) that USERS does not cover."""
    sm = app.appbuilder.sm
    logins = []
    for role_name in sorted(templates_with_plugins(app.extensions["crm_plugins"])):
        if role_name in covered or sm.find_role(role_name) is None:
            continue
        username = "sh01_" + (re.sub(r"[^a-z0-9]+", "_", role_name.lower()).strip("_") or "role")
        if sm.find_user(username=username) is None:
            user = sm.add_user(username, username, "demo", f"{username}@demo.invalid", sm.find_role(role_name),
                               DEMO_PASSWORD)
            user.franchises = [franchise]
            db.session.commit()
        logins.append((username, role_name, franchise.code))
    return logins


def _seed_business(app, franchises, log) -> None:
    """Customers and shipments of the demo franchises, once: a later run finds them and keeps them."""
    ids = [f.id for f in franchises.values()]
    have = db.session.scalar(select(func.count()).select_from(Customer).where(Customer.franchise_id.in_(ids)))
    if have:
        log(f"demo data: kept the {have} customers of an earlier run")
        return
    sites = [seeding.Site(f.id, f.code, f.name, HOME_DISTRICTS.get(code) or seeding.home_district(f))
             for code, f in franchises.items()]
    started = time.perf_counter()
    report = seeding.seed(app, seeding.Plan(customers=DEMO_CUSTOMERS, shipments=DEMO_SHIPMENTS, seed=DEMO_SEED),
                          sites)
    log("demo data: " + ", ".join(f"{n} {table.removeprefix('crm_')}" for table, n in report.rows.items())
        + f" ({time.perf_counter() - started:.1f} s)")
