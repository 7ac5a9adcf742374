"""E-commerce order pull: signed requests to Taobao/Tmall, Pinduoduo and JD (here: the local simulator), orders
mapped to the shop's business customer's shipments, a cursor that resumes, and franchise isolation."""

from __future__ import annotations

from datetime import datetime

import pytest
from flask_babel import gettext
from sqlalchemy import func, select

from core import divisions
from core.extensions import db
from core.models import Customer, Shipment
from plugins.integrations.orders.models import OrderShop, PlatformOrderRow
from plugins.integrations.orders.platforms import JdAdapter, PddAdapter, PlatformError, TaobaoAdapter
from plugins.integrations.orders.pull import pull_orders, pull_shop
from plugins.integrations.orders.simulator import start_simulator
from tests.conftest import add_user

ACCOUNTS = [
    {"platform": "taobao", "app_key": "tb-pages", "app_secret": "tb-secret", "access_token": "tb-session",
     "orders": 45, "days": 2},
    {"platform": "taobao", "app_key": "tb-resume", "app_secret": "tb-secret-2", "access_token": "tb-session-2",
     "orders": 60, "days": 0.5},
    {"platform": "taobao", "app_key": "tb-refuse", "app_secret": "right-secret", "access_token": "tb-session-3",
     "orders": 5, "days": 1},
    {"platform": "pdd", "app_key": "pdd-1", "app_secret": "pdd-secret", "access_token": "pdd-token",
     "orders": 30, "days": 1},
    {"platform": "jd", "app_key": "jd-1", "app_secret": "jd-secret", "access_token": "jd-token",
     "orders": 30, "days": 1},
    {"platform": "jd", "app_key": "jd-2", "app_secret": "jd-secret-2", "access_token": "jd-token-2",
     "orders": 12, "days": 1},
]


@pytest.fixture(scope="module")
def simulator(app):
    server, base_url = start_simulator(ACCOUNTS)
    app.config["CRM_ORDER_PAGE_SIZE"] = 10
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def customers(app):
    with app.app_context():
        ids = app.config["TEST_IDS"]
        rows = {"shop_a": Customer(franchise_id=ids["A"], kind="B", name="杭州好物旗舰店"),
                "person_a": Customer(franchise_id=ids["A"], kind="C", name="王小明"),
                "shop_b": Customer(franchise_id=ids["B"], kind="B", name="广州优品专营店")}
        db.session.add_all(rows.values())
        db.session.commit()
        add_user(app, "bit", "Franchise IT", franchises=[db.session.get(type(rows["shop_b"].franchise),
                                                                          ids["B"])])
        return {key: row.id for key, row in rows.items()}


def make_shop(app, simulator, customers, app_key, secret=None, fresh=False):
    """The shop of franchise A for this simulator account (one per account: a shop is set up once)."""
    spec = next(a for a in ACCOUNTS if a["app_key"] == app_key)
    with app.app_context():
        shop = db.session.scalar(select(OrderShop).where(OrderShop.app_key == app_key))
        if shop is None:
            shop = OrderShop(franchise_id=app.config["TEST_IDS"]["A"], platform=spec["platform"],
                             name=f"shop {app_key}", app_key=app_key, customer_id=customers["shop_a"])
            db.session.add(shop)
        shop.base_url, shop.active, shop.last_outcome, shop.last_error = simulator.base_url, True, None, None
        shop.app_secret, shop.access_token = secret or spec["app_secret"], spec["access_token"]
        if fresh:  # pull from the start again
            shop.pulled_until, shop.window_end, shop.next_page = None, None, 1
        db.session.commit()
        return shop.id


def orders_of(shop_id):
    return db.session.scalars(select(PlatformOrderRow).where(PlatformOrderRow.shop_id == shop_id)
                              .order_by(PlatformOrderRow.platform_order_id)).all()


def listed(simulator, app_key):
    spec = next(a for a in ACCOUNTS if a["app_key"] == app_key)
    return simulator.orders_of(spec["platform"], app_key)


# --- signing ------------------------------------------------------------------------------------------------

START, END, NOW = datetime(2024, 5, 1, 12, 0), datetime(2024, 5, 1, 12, 30), datetime(2024, 5, 1, 12, 31)


def test_taobao_request_is_signed_as_top_expects():
    params = TaobaoAdapter("12345678", "s3cret", "sess-1", page_size=50).signed_params(START, END, 2, now=NOW)
    # Beijing time (UTC+8) in the timestamp and the window
    assert params["timestamp"] == "2024-05-01 20:31:00"
    assert (params["start_modified"], params["end_modified"]) == ("2024-05-01 20:00:00", "2024-05-01 20:30:00")
    assert params["sign_method"] == "md5" and params["v"] == "2.0" and params["session"] == "sess-1"
    # md5 over "s3cret" + app_key12345678 + end_modified... (keys sorted) + "s3cret", computed by hand
    assert params["sign"] == "35BC7AC2FBB18CE2F16373C27742E042"


def test_pdd_request_is_signed_with_unix_timestamps():
    params = PddAdapter("cid-1", "s3cret", "tok-1", page_size=50).signed_params(START, END, 2, now=NOW)
    assert params["timestamp"] == "1714566660" and params["data_type"] == "JSON"
    assert (params["start_updated_at"], params["end_updated_at"]) == ("1714564800", "1714566600")
    assert params["sign"] == "D3ED615C8410230A973A3E9753852DD9"


def test_jd_request_signs_the_business_json_but_not_format_or_sign_method():
    params = JdAdapter("jdkey", "s3cret", "tok-1", page_size=50).signed_params(START, END, 2, now=NOW)
    assert params["format"] == "json" and params["sign_method"] == "md5"
    assert '"start_date":"2024-05-01 20:00:00"' in params["360buy_param_json"]
    assert params["sign"] == "E8435C1E819E4105C2189A8CBAF52B5C"


# --- refusals --------------------------------------------------------------------------------------------


def test_simulator_refuses_a_wrong_signature_and_the_shop_shows_it(app, simulator, customers):
    adapter = TaobaoAdapter("tb-refuse", "wrong-secret", "tb-session-3", simulator.base_url)
    with pytest.raises(PlatformError) as refused:
        adapter.fetch(START, END, 1)
    assert refused.value.kind == "signature"
    shop_id = make_shop(app, simulator, customers, "tb-refuse", secret="wrong-secret")
    with app.app_context():
        assert "signature" in pull_shop(shop_id)
        shop = db.session.get(OrderShop, shop_id)
        # our explanation (in the job's language) and the platform's own words
        assert shop.last_outcome == "failed" and "Invalid signature" in shop.last_error
        assert shop.last_error.startswith("Taobao/Tmall: ") and len(shop.last_error) > 40
        assert orders_of(shop_id) == []


def test_simulator_refuses_a_stale_timestamp_and_the_shop_shows_it(app, simulator, customers):
    from datetime import timedelta

    adapter = TaobaoAdapter("tb-refuse", "right-secret", "tb-session-3", simulator.base_url)
    with pytest.raises(PlatformError) as refused:
        adapter.fetch(START, END, 1, now=datetime.utcnow() - timedelta(minutes=11))
    assert refused.value.kind == "timestamp"
    shop_id = make_shop(app, simulator, customers, "tb-refuse")
    simulator.clock_skew = timedelta(minutes=15)  # the platform's clock and ours disagree
    try:
        with app.app_context():
            pull_shop(shop_id)
            shop = db.session.get(OrderShop, shop_id)
            assert shop.last_outcome == "failed" and "Invalid timestamp" in shop.last_error
    finally:
        simulator.clock_skew = timedelta(0)
    with app.app_context():
        assert pull_shop(shop_id) == "ok"
        assert len(orders_of(shop_id)) == len(listed(simulator, "tb-refuse"))


def test_one_failing_shop_does_not_stop_the_others(app, simulator, customers, ids):
    bad = make_shop(app, simulator, customers, "tb-refuse", secret="not-the-secret", fresh=True)
    good = make_shop(app, simulator, customers, "jd-1")
    with app.app_context():
        db.session.execute(OrderShop.__table__.update().where(OrderShop.id.not_in([bad, good])).values(active=False))
        db.session.commit()
        outcomes = pull_orders(ids["A"])
        assert outcomes[good] == "ok" and "signature" in outcomes[bad]
        assert len(orders_of(good)) == len(listed(simulator, "jd-1"))


# --- pulling and mapping ------------------------------------------------------------------------------------


def test_a_pull_over_several_pages_creates_orders_and_shipments_of_the_shop_customer(app, simulator, customers,
                                                                                   ids):
    shop_id = make_shop(app, simulator, customers, "tb-pages")
    with app.app_context():
        assert pull_shop(shop_id) == "ok"
        pages = [r["page"] for r in simulator.requests if r["app_key"] == "tb-pages"]
        assert max(pages) >= 2
        expected = listed(simulator, "tb-pages")
        rows = orders_of(shop_id)
        assert sorted(r.platform_order_id for r in rows) == sorted(o.order_id for o in expected)
        shipped = {o.waybill: o for o in expected if o.waybill}
        assert shipped and {r.waybill_no for r in rows if r.waybill_no} == set(shipped)
        shipments = db.session.scalars(select(Shipment).where(Shipment.waybill_no.in_(list(shipped)))).all()
        assert len(shipments) == len(shipped)
        for shipment in shipments:
            order = shipped[shipment.waybill_no]
            assert shipment.customer_id == customers["shop_a"] and shipment.franchise_id == ids["A"]
            assert shipment.external_order_id == order.order_id
            assert shipment.receiver_name == order.name[0] + "**"  # Taobao's mask, kept as given
            assert shipment.receiver_district_code == order.district_code
        for row in rows:
            assert divisions.is_district(row.receiver_district_code), row.receiver_area
            assert row.receiver_phone_enc is None and "*" in row.receiver_phone_display
            assert (row.shipment_id is not None) == bool(row.waybill_no) and row.problem is None
        # Taobao puts 济源 (run by the province) in the district field: still the right code
        jiyuan = [r for r in rows if r.receiver_district_code == "419001"]
        assert jiyuan and "省直辖县级行政区划" in jiyuan[0].receiver_area
        shop = db.session.get(OrderShop, shop_id)
        assert shop.last_outcome == "ok" and shop.orders_pulled == len(expected)
        assert shop.window_end is None and shop.next_page == 1


def test_pulling_the_same_orders_again_changes_nothing(app, simulator, customers):
    shop_id = make_shop(app, simulator, customers, "tb-pages")
    with app.app_context():
        pull_shop(shop_id)

        def snapshot():
            db.session.expire_all()
            rows = orders_of(shop_id)
            return [(r.id, r.updated_at, r.receiver_address_enc, r.shipment_id, r.problem, r.status) for r in rows]

        before = snapshot()
        shipments = db.session.scalar(select(func.count()).select_from(Shipment))
        shop = db.session.get(OrderShop, shop_id)
        shop.pulled_until = None  # from the start again: every order comes a second time
        db.session.commit()
        assert pull_shop(shop_id) == "ok"
        assert snapshot() == before
        assert db.session.scalar(select(func.count()).select_from(Shipment)) == shipments


def test_a_pull_that_fails_in_the_middle_resumes_at_the_failed_page(app, simulator, customers):
    shop_id = make_shop(app, simulator, customers, "tb-resume")
    simulator.fail_pages["tb-resume"] = {3}
    try:
        with app.app_context():
            assert "HTTP 500" in pull_shop(shop_id)
            shop = db.session.get(OrderShop, shop_id)
            assert shop.last_outcome == "failed" and shop.next_page == 3 and shop.window_end is not None
            assert len(orders_of(shop_id)) == 20  # pages 1 and 2 are in
    finally:
        simulator.fail_pages.clear()
    seen = len(simulator.requests)
    with app.app_context():
        assert pull_shop(shop_id) == "ok"
        resumed = [r for r in simulator.requests[seen:] if r["app_key"] == "tb-resume"]
        assert resumed[0]["page"] == 3
        rows = orders_of(shop_id)
        expected = listed(simulator, "tb-resume")
        assert sorted(r.platform_order_id for r in rows) == sorted(o.order_id for o in expected)
        waybills = [o.waybill for o in expected if o.waybill]
        assert db.session.scalar(select(func.count()).select_from(Shipment)
                                 .where(Shipment.waybill_no.in_(waybills))) == len(waybills)


def test_pdd_order_waits_for_its_waybill_and_keeps_the_phone_given_while_pending(app, simulator, customers):
    shop_id = make_shop(app, simulator, customers, "pdd-1")
    pending = next(o for o in listed(simulator, "pdd-1") if o.stage == "pending")
    with app.app_context():
        assert pull_shop(shop_id) == "ok"
        row = next(r for r in orders_of(shop_id) if r.platform_order_id == pending.order_id)
        assert row.waybill_no is None and row.shipment_id is None and row.problem is None
        assert row.receiver_phone == pending.phone  # in clear while pending: stored encrypted
        assert row.receiver_phone_enc != pending.phone
        assert row.receiver_phone_display == pending.phone[:3] + "****" + pending.phone[-4:]
    simulator.ship("pdd", "pdd-1", pending.order_id, "75999000111222")
    with app.app_context():
        assert pull_shop(shop_id) == "ok"
        row = next(r for r in orders_of(shop_id) if r.platform_order_id == pending.order_id)
        assert row.waybill_no == "75999000111222" and row.shipment_id is not None
        assert row.receiver_phone == pending.phone  # the masked number after shipment did not erase it
        shipment = db.session.get(Shipment, row.shipment_id)
        assert shipment.customer_id == customers["shop_a"] and shipment.receiver_phone == pending.phone


def test_a_waybill_of_another_franchise_is_not_linked(app, simulator, customers, ids):
    order = next(o for o in listed(simulator, "jd-2") if o.waybill)
    with app.app_context():
        db.session.add(Shipment(franchise_id=ids["B"], waybill_no=order.waybill, customer_id=customers["shop_b"]))
        db.session.commit()
    shop_id = make_shop(app, simulator, customers, "jd-2")
    with app.app_context():
        assert pull_shop(shop_id) == "ok"
        row = next(r for r in orders_of(shop_id) if r.platform_order_id == order.order_id)
        # in the job's language (zh by default), as the Orders screen shows it
        assert row.shipment_id is None and row.problem == gettext(
            "waybill %(number)s belongs to another franchise: not linked", number=order.waybill)
        owners = db.session.scalars(select(Shipment.franchise_id).where(Shipment.waybill_no == order.waybill)).all()
        assert owners == [ids["B"]]


# --- shops: forms, API, scope -------------------------------------------------------------------------------


def shop_form(customer_id, **extra):
    return {"platform": "taobao", "name": "表单店铺", "customer": str(customer_id), "app_key": "form-key",
            "app_secret": "form-secret", "access_token": "form-token", "base_url": "", "active": "y", **extra}


def test_a_shop_of_a_person_customer_is_refused_naming_the_field(app, client_for, customers, ids):
    client = client_for("ait")
    client.get("/lang/en")
    response = client.post("/order-shops/add", data=shop_form(customers["person_a"], franchise=str(ids["A"])),
                           follow_redirects=True)
    assert "Business customer: must be a business (B) customer" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(OrderShop).where(OrderShop.app_key == "form-key")) is None


def test_a_shop_of_another_franchise_customer_is_refused_by_the_api(app, api_headers, customers, ids):
    body = {"platform": "jd", "name": "API 店铺", "customer": customers["shop_b"], "app_key": "api-key",
            "app_secret": "api-secret", "franchise": ids["A"]}
    response = app.test_client().post("/api/v1/order_shop/", json=body, headers=api_headers("hq"))
    assert response.status_code == 422
    with app.test_request_context():  # the API answers in the default language
        assert response.json["message"]["customer"][0] == gettext("belongs to another franchise than the shop")
    # the franchise's own IT cannot even name it
    response = app.test_client().post("/api/v1/order_shop/", json={**body, "franchise": None},
                                      headers=api_headers("ait"))
    assert response.status_code == 422 and "customer" in response.json["message"]


def test_the_api_takes_secrets_in_and_never_gives_them_back(app, api_headers, customers):
    body = {"platform": "pdd", "name": "API 店铺", "customer": customers["shop_a"], "app_key": "api-key-2",
            "app_secret": "api-secret-2", "access_token": "api-token-2"}
    headers = api_headers("ait")
    response = app.test_client().post("/api/v1/order_shop/", json=body, headers=headers)
    assert response.status_code == 201, response.json
    assert "api-secret-2" not in response.get_data(as_text=True)
    shop_id = response.json["id"]
    response = app.test_client().put(f"/api/v1/order_shop/{shop_id}", json={"name": "改名"}, headers=headers)
    assert response.status_code == 200, response.json
    with app.app_context():
        shop = db.session.get(OrderShop, shop_id)
        assert shop.name == "改名" and shop.app_secret == "api-secret-2" and shop.access_token == "api-token-2"
        assert "api-secret-2" not in shop.app_secret_enc


def test_a_shop_form_keeps_a_secret_left_blank(app, client_for, customers, simulator):
    shop_id = make_shop(app, simulator, customers, "jd-1")
    client = client_for("ait")
    page = client.get(f"/order-shops/edit/{shop_id}").get_data(as_text=True)
    assert "jd-secret" not in page and "jd-token" not in page
    response = client.post(f"/order-shops/edit/{shop_id}", data=shop_form(
        customers["shop_a"], platform="jd", app_key="jd-1", app_secret="", access_token="", name="改过的店",
        base_url=simulator.base_url, franchise=str(app.config["TEST_IDS"]["A"])), follow_redirects=True)
    assert response.status_code == 200
    with app.app_context():
        shop = db.session.get(OrderShop, shop_id)
        assert shop.name == "改过的店" and shop.app_secret == "jd-secret" and shop.access_token == "jd-token"


def test_pull_now_pulls_the_shop(app, client_for, customers, simulator):
    shop_id = make_shop(app, simulator, customers, "tb-refuse")
    response = client_for("ait").post("/order-shops/action_post", data={"action": "pull_now", "rowid": shop_id})
    assert response.status_code == 302
    with app.app_context():
        shop = db.session.get(OrderShop, shop_id)
        assert shop.last_outcome == "ok" and shop.orders_pulled == len(listed(simulator, "tb-refuse"))


def test_franchise_b_cannot_see_the_shops_and_orders_of_a(app, client_for, api_headers, customers, simulator):
    shop_id = make_shop(app, simulator, customers, "tb-refuse")
    with app.app_context():
        pull_shop(shop_id)
        order = orders_of(shop_id)[0]
        order_id, order_no = order.id, order.platform_order_id
    for username in ("bit", "bob"):
        client = client_for(username)
        orders = client.get("/ecommerce-orders/list/?psize_PlatformOrderView=100").get_data(as_text=True)
        assert order_no not in orders
        assert client.get(f"/ecommerce-orders/show/{order_id}").status_code in (302, 404)
    bit = client_for("bit")
    assert "shop tb-refuse" not in bit.get("/order-shops/list/").get_data(as_text=True)
    assert app.test_client().get(f"/api/v1/order_shop/{shop_id}", headers=api_headers("bit")).status_code == 404
    # and A sees its own, receivers masked
    page = client_for("alice").get(f"/ecommerce-orders/show/{order_id}").get_data(as_text=True)
    assert order_no in page
    real = next(o for o in listed(simulator, "tb-refuse") if o.order_id == order_no)
    assert real.name not in page and real.phone not in page


def test_the_demo_starts_the_simulator_and_pulls_orders_into_a_shop_per_platform(app, customers, ids):
    from plugins.integrations.orders.demo import start_demo

    app.config["CRM_ORDER_SIMULATOR_PORT"] = 0  # any free port
    with app.app_context():
        lines = start_demo(app, [ids["B"]])
        assert "listening at http://127.0.0.1:" in lines[0]
        shops = db.session.scalars(select(OrderShop).where(OrderShop.franchise_id == ids["B"])).all()
        assert sorted(s.platform for s in shops) == ["jd", "pdd", "taobao"]
        assert all(s.customer_id == customers["shop_b"] and s.orders_pulled > 0 for s in shops)
        pulled = db.session.scalar(select(func.count()).select_from(PlatformOrderRow)
                                   .where(PlatformOrderRow.franchise_id == ids["B"]))
        start_demo(app, [ids["B"]])  # a second demo run keeps the shops and their orders
        assert db.session.scalar(select(func.count()).select_from(OrderShop)
                                 .where(OrderShop.franchise_id == ids["B"])) == 3
        assert db.session.scalar(select(func.count()).select_from(PlatformOrderRow)
                                 .where(PlatformOrderRow.franchise_id == ids["B"])) == pulled
