"""Demo network for `crm demo`: regions, franchises and one user per role. Running it again keeps data."""

from __future__ import annotations

from sqlalchemy import select

from core.extensions import db
from core.plugins import PluginActivation, set_activation
from core.tenancy import Franchise, Region

DEMO_PASSWORD = "demo12345"

NETWORK = {
    ("EAST", "华东大区"): [("SH01", "上海浦东加盟商"), ("SH02", "上海闵行加盟商"), ("HZ01", "杭州余杭加盟商"),
                        ("NJ01", "南京江宁加盟商")],
    ("SOUTH", "华南大区"): [("GZ01", "广州白云加盟商"), ("SZ01", "深圳宝安加盟商"), ("SZ02", "深圳龙岗加盟商"),
                         ("DG01", "东莞长安加盟商")],
    ("NORTH", "华北大区"): [("BJ01", "北京朝阳加盟商"), ("BJ02", "北京大兴加盟商"), ("TJ01", "天津武清加盟商"),
                         ("SJZ01", "石家庄裕华加盟商")],
}

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


def seed_demo(app) -> list[tuple[str, str, str]]:
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
    # switch every plugin on everywhere, unless someone already decided where it runs
    decided = set(db.session.scalars(select(PluginActivation.plugin)))
    for name in app.extensions["crm_plugins"].plugins:
        if name not in decided:
            set_activation(name, enabled=True, user="demo")
    db.session.commit()
    return logins
