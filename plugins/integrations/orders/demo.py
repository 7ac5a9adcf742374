"""`crm demo`: the order simulator in this process, one demo shop per platform, and a first pull."""

from __future__ import annotations

import logging

from sqlalchemy import select

from core.extensions import db
from core.models import Customer
from core.tenancy import Scope, scope_as
from plugins.integrations.orders.models import OrderShop
from plugins.integrations.orders.platforms import PLATFORMS
from plugins.integrations.orders.pull import pull_orders

log = logging.getLogger(__name__)
DEFAULT_PORT = 8790


def _simulator(app):
    # imported here: `python -m plugins.integrations.orders.simulator` must not find itself imported already
    from plugins.integrations.orders.simulator import DEMO_ACCOUNTS, start_simulator

    running = app.extensions.get("crm_order_simulator")
    if running is not None:
        return running
    port = int(app.config.get("CRM_ORDER_SIMULATOR_PORT", DEFAULT_PORT))
    try:
        running = start_simulator(DEMO_ACCOUNTS, port=port)
    except OSError:  # the port is taken (a second demo, another program): any free port will do
        running = start_simulator(DEMO_ACCOUNTS, port=0)
    app.extensions["crm_order_simulator"] = running
    return running


def start_demo(app, franchise_ids) -> list[str]:
    from plugins.integrations.orders.simulator import DEMO_ACCOUNTS

    _, base_url = _simulator(app)
    lines = [f"order simulator (Taobao/Tmall, Pinduoduo, JD) listening at {base_url}"]
    if not franchise_ids:
        return lines
    franchise_id = franchise_ids[0]
    customer = db.session.scalar(select(Customer).where(
        Customer.franchise_id == franchise_id, Customer.kind == "B", Customer.merged_into_id.is_(None))
        .order_by(Customer.id).limit(1))
    if customer is None:
        return lines + ["no business customer in the first demo franchise: no demo shops"]
    for spec in DEMO_ACCOUNTS:
        shop = db.session.scalar(select(OrderShop).where(
            OrderShop.franchise_id == franchise_id, OrderShop.platform == spec["platform"],
            OrderShop.app_key == spec["app_key"]))
        if shop is None:
            shop = OrderShop(franchise_id=franchise_id, platform=spec["platform"], app_key=spec["app_key"],
                             name=f"{customer.name} · {PLATFORMS[spec['platform']]}", customer=customer, active=True)
            shop.app_secret, shop.access_token = spec["app_secret"], spec["access_token"]
            db.session.add(shop)
        shop.base_url = base_url  # the simulator may have moved to another port since the last demo
    db.session.commit()
    with scope_as(Scope(False, frozenset({franchise_id}))):
        outcomes = pull_orders(franchise_id)
    shops = {s.id: s for s in db.session.scalars(select(OrderShop).where(OrderShop.id.in_(list(outcomes))))}
    for shop_id, outcome in outcomes.items():
        shop = shops[shop_id]
        lines.append(f"  demo shop {shop.name}: {shop.orders_pulled} orders pulled ({outcome})")
    return lines
