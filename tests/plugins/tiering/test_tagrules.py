"""Tag rules: a rule tags exactly the customers matching it at each recompute and untags those who stop
matching, manual tags stay; HQ's rule applies where a franchise has no rule of that tag; bad input (form and
API) is refused with a message naming the field and the stored rule stays as it was."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import delete, select

from core.clock import utcnow
from core.extensions import db
from core.jobs import JobOutbox
from core.models import Customer, Shipment
from plugins.tiering.models import CustomerTag, CustomerValue, TagRule, TierHistory, TierRun
from plugins.tiering.recompute import recompute
from tests.conftest import add_user
from tests.plugins.tiering.conftest import make_customer, make_shipment


@pytest.fixture
def clean(app, ids):
    with app.app_context():
        for model in (CustomerTag, TagRule, TierHistory, CustomerValue, TierRun, JobOutbox, Shipment, Customer):
            db.session.execute(delete(model))
        db.session.commit()
    return ids


@pytest.fixture(scope="module")
def managers(app):
    """Account managers of franchise A and of B (they read rules, write none)."""
    from core.tenancy import Franchise

    with app.app_context():
        a = db.session.scalar(select(Franchise).where(Franchise.code == "A"))
        b = db.session.scalar(select(Franchise).where(Franchise.code == "B"))
        add_user(app, "tr_am", "Account Manager", franchises=[a])
        add_user(app, "tr_bm", "Account Manager", franchises=[b])
    return ["tr_am", "tr_bm"]


def shipping(franchise_id, parcels, name, **values):
    customer = make_customer(franchise_id, name=name, **values)
    for n in range(parcels):
        make_shipment(franchise_id, customer, fee=10, status="DELIVERED",
                      created_at=utcnow() - dt.timedelta(days=2, minutes=n))
    return customer


def tags_of(franchise_id) -> dict[str, set[str]]:
    rows = db.session.execute(select(Customer.name, CustomerTag.tag)
                              .join(Customer, Customer.id == CustomerTag.customer_id)
                              .where(CustomerTag.franchise_id == franchise_id)).all()
    result: dict[str, set[str]] = {}
    for name, tag in rows:
        result.setdefault(tag, set()).add(name)
    return result


def add_rule(franchise_id, tag, conditions, active=True) -> TagRule:
    rule = TagRule(franchise_id=franchise_id, tag=tag, conditions=conditions, active=active)
    db.session.add(rule)
    db.session.commit()
    return rule


def rule_form(tag, field, op, value, franchise="", **extra):
    form = {"franchise": franchise, "tag": tag, "description": extra.pop("description", ""), "active": "y",
            "cond-0-field": field, "cond-0-op": op}
    form["cond-0-value"] = value
    form.update(extra)
    return form


# --- the recompute applies rules ---------------------------------------------------------------------


def test_a_rule_tags_exactly_the_matching_customers_and_untags_who_stops_matching(app, clean):
    a = clean["A"]
    with app.app_context():
        busy = shipping(a, 5, "忙碌电商", industry="ecommerce", tags="老客户")
        shipping(a, 1, "偶尔寄件", industry="ecommerce")
        shipping(a, 5, "工厂", industry="manufacturing")
        add_rule(a, "高频电商", [{"field": "frequency", "op": ">=", "value": 3},
                                {"field": "industry", "op": "in", "value": ["ecommerce"]}])
        recompute(a)
        assert tags_of(a) == {"高频电商": {"忙碌电商"}}

        busy = db.session.get(Customer, busy.id)
        busy.industry = "retail"  # stops matching
        db.session.commit()
        recompute(a)
        assert tags_of(a) == {}
        # the manual tag is the customer's own: the recompute that took the rule tag left it alone
        assert db.session.get(Customer, busy.id).tags == "老客户"


def test_manual_tag_of_the_same_name_survives_when_the_rule_tag_goes(app, clean):
    a = clean["A"]
    with app.app_context():
        customer = shipping(a, 4, "寄件多", tags="VIP,月结")
        rule = add_rule(a, "VIP", [{"field": "frequency", "op": ">=", "value": 3}])
        recompute(a)
        assert tags_of(a) == {"VIP": {"寄件多"}}
        rule.conditions = [{"field": "frequency", "op": ">=", "value": 100}]
        db.session.commit()
        recompute(a)
        assert tags_of(a) == {}
        assert db.session.get(Customer, customer.id).tags == "VIP,月结"


def test_hq_rule_applies_unless_the_franchise_has_its_own_rule_of_the_tag(app, clean):
    a, b = clean["A"], clean["B"]
    with app.app_context():
        shipping(a, 2, "A两件")
        shipping(a, 6, "A六件")
        shipping(b, 2, "B两件")
        shipping(b, 6, "B六件")
        add_rule(None, "活跃", [{"field": "frequency", "op": ">=", "value": 2}])
        add_rule(b, "活跃", [{"field": "frequency", "op": ">=", "value": 5}])
        recompute(a)
        recompute(b)
        assert tags_of(a) == {"活跃": {"A两件", "A六件"}}
        assert tags_of(b) == {"活跃": {"B六件"}}  # B's own rule, not HQ's


# --- the screens -------------------------------------------------------------------------------------


def test_franchise_it_adds_a_rule_and_the_recompute_it_queues_tags_the_customers(app, clean, client_for):
    a = clean["A"]
    with app.app_context():
        shipping(a, 1, "月结客户", billing_mode="monthly")
        shipping(a, 1, "现结客户", billing_mode="cash")
        db.session.commit()
    ait = client_for("ait")
    ait.get("/lang/en")
    response = ait.post("/tiering/tag-rules/add", data=rule_form("月结", "billing_mode", "in", "monthly",
                                                                 franchise=str(a)))
    assert response.status_code == 302, response.data[:800]
    with app.app_context():
        rule = db.session.scalar(select(TagRule).where(TagRule.tag == "月结"))
        assert rule.franchise_id == a and rule.conditions == [
            {"field": "billing_mode", "op": "in", "value": ["monthly"]}]
        # no Redis in tests: the queued recompute ran after the save committed
        assert tags_of(a) == {"月结": {"月结客户"}}
    page = ait.get("/tiering/tag-rules/")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Billing is one of Monthly settlement" in text
    assert 'data-tagged="1"' in text


@pytest.mark.parametrize("form, field, words", [
    (rule_form("新标签", "no_such_field", ">", "3"), "conditions", "unknown field"),
    (rule_form("新标签", "frequency", ">=", "many"), "conditions", "Parcels (RFM window)"),
    (rule_form("新标签", "industry", "in", "spaceships"), "conditions", "Industry"),
    (rule_form("  ", "frequency", ">=", "3"), "tag", "tag is required"),
    (rule_form("其他", "frequency", ">=", "3"), "tag", "already has a rule"),
    (rule_form("新标签", "", "", ""), "conditions", "at least one condition"),
])
def test_bad_rule_input_is_refused_naming_the_field_and_the_rule_stays(app, clean, client_for, form, field, words):
    a = clean["A"]
    with app.app_context():
        rule_id = add_rule(a, "高价值", [{"field": "monthly_revenue", "op": ">=", "value": 1000}]).id
        add_rule(a, "其他", [{"field": "frequency", "op": ">", "value": 0}])
    ait = client_for("ait")
    ait.get("/lang/en")
    form = {**form, "franchise": str(a)}
    response = ait.post(f"/tiering/tag-rules/edit/{rule_id}", data=form)
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert f'data-field="{field}"' in text and words in text
    with app.app_context():
        stored = db.session.get(TagRule, rule_id)
        assert stored.tag == "高价值"
        assert stored.conditions == [{"field": "monthly_revenue", "op": ">=", "value": 1000}]
        assert db.session.scalar(select(TagRule.id).where(TagRule.tag == "新标签")) is None


def test_franchise_it_reads_hq_rules_but_cannot_change_them_nor_see_other_franchises_rules(app, clean, client_for):
    with app.app_context():
        hq_rule = add_rule(None, "总部标签", [{"field": "frequency", "op": ">", "value": 0}]).id
        b_rule = add_rule(clean["B"], "乙方标签", [{"field": "frequency", "op": ">", "value": 0}]).id
    ait = client_for("ait")
    ait.get("/lang/en")
    text = ait.get("/tiering/tag-rules/").get_data(as_text=True)
    assert "总部标签" in text and "HQ (all franchises)" in text
    assert "乙方标签" not in text
    assert ait.get(f"/tiering/tag-rules/edit/{hq_rule}").status_code == 403
    assert ait.post(f"/tiering/tag-rules/delete/{hq_rule}").status_code == 403
    assert ait.get(f"/tiering/tag-rules/edit/{b_rule}").status_code == 404
    # nor can it make an HQ rule by leaving the franchise empty: it gets its own franchise's rule
    ait.post("/tiering/tag-rules/add", data=rule_form("自己的", "frequency", ">", "0"))
    with app.app_context():
        assert db.session.scalar(select(TagRule.franchise_id).where(TagRule.tag == "自己的")) == clean["A"]


def test_account_manager_reads_rules_without_write_buttons(app, clean, client_for, managers):
    with app.app_context():
        rule_id = add_rule(clean["A"], "甲方", [{"field": "frequency", "op": ">", "value": 0}]).id
    am = client_for("tr_am")
    am.get("/lang/en")
    text = am.get("/tiering/tag-rules/").get_data(as_text=True)
    assert "甲方" in text and f"/tiering/tag-rules/edit/{rule_id}" not in text
    assert am.post("/tiering/tag-rules/add", data=rule_form("x", "frequency", ">", "0")).status_code in (302, 403)
    with app.app_context():
        assert db.session.scalar(select(TagRule.id).where(TagRule.tag == "x")) is None


def test_preview_counts_the_franchise_customers_matching_now(app, clean, client_for):
    a, b = clean["A"], clean["B"]
    with app.app_context():
        shipping(a, 0, "甲电商", industry="ecommerce")
        shipping(a, 0, "甲零售", industry="retail")
        shipping(b, 0, "乙电商", industry="ecommerce")
        add_rule(b, "电商", [{"field": "industry", "op": "in", "value": ["retail"]}])
        db.session.commit()
    ait = client_for("ait")
    form = rule_form("电商", "industry", "in", "ecommerce", franchise=str(a))
    answer = ait.post("/tiering/tag-rules/preview", data=form)
    assert answer.status_code == 200 and answer.json == {"count": 1}
    hq = client_for("hq")
    hq.get("/lang/en")
    # HQ's rule would apply in A only: B has its own rule of the tag
    assert hq.post("/tiering/tag-rules/preview", data={**form, "franchise": ""}).json == {"count": 1}
    assert hq.post("/tiering/tag-rules/preview", data={**form, "tag": "别的"}).json == {"count": 1}
    bad = hq.post("/tiering/tag-rules/preview", data=rule_form("电商", "frequency", ">", "lots"))
    assert bad.status_code == 400 and "Parcels (RFM window)" in bad.json["errors"]["conditions"]
    other = ait.post("/tiering/tag-rules/preview", data={**form, "franchise": str(b)})
    assert other.status_code == 400 and "franchise" in other.json["errors"]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_rule_pages_render_in_both_languages(app, clean, client_for, lang):
    with app.app_context():
        rule_id = add_rule(clean["A"], "页面", [{"field": "tier", "op": "in", "value": ["A", "B"]},
                                                {"field": "has_account_manager", "op": "is", "value": True},
                                                {"field": "district", "op": "starts_with", "value": "3301"}]).id
    for user in ("hq", "ait"):
        client = client_for(user)
        client.get(f"/lang/{lang}")
        for url in ("/tiering/tag-rules/", "/tiering/tag-rules/add", f"/tiering/tag-rules/edit/{rule_id}",
                    "/tiering/tag-rules/fields?franchise="+str(clean["A"])):
            response = client.get(url)
            assert response.status_code == 200, (user, url, response.data[:500])
    edit = client_for("ait").get(f"/tiering/tag-rules/edit/{rule_id}").get_data(as_text=True)
    assert 'value="3301"' in edit and 'name="cond-2-value"' in edit


def test_deleting_a_franchise_rule_lets_hq_rule_of_the_tag_apply_again(app, clean, client_for):
    a = clean["A"]
    with app.app_context():
        shipping(a, 2, "两件")
        shipping(a, 6, "六件")
        add_rule(None, "活跃", [{"field": "frequency", "op": ">=", "value": 2}])
        own = add_rule(a, "活跃", [{"field": "frequency", "op": ">=", "value": 5}]).id
        recompute(a)
        assert tags_of(a) == {"活跃": {"六件"}}
    response = client_for("ait").post(f"/tiering/tag-rules/delete/{own}")
    assert response.status_code == 302
    with app.app_context():
        assert db.session.get(TagRule, own) is None
        assert tags_of(a) == {"活跃": {"两件", "六件"}}  # the recompute the delete queued applied HQ's rule


# --- the API -----------------------------------------------------------------------------------------


def test_api_creates_lists_and_updates_rules(app, clean, api_headers, managers):
    headers = api_headers("ait")
    client = app.test_client()
    created = client.post("/api/v1/tiering/tag-rules/", headers=headers, json={
        "tag": "退货多", "description": "returns", "conditions": [{"field": "return_rate", "op": ">=", "value": 20}]})
    assert created.status_code == 201, created.json
    rule_id = created.json["id"]
    assert created.json["result"]["franchise_id"] == clean["A"]
    listed = client.get("/api/v1/tiering/tag-rules/", headers=headers)
    assert [r["tag"] for r in listed.json["result"]] == ["退货多"]
    updated = client.put(f"/api/v1/tiering/tag-rules/{rule_id}", headers=headers, json={"active": False})
    assert updated.status_code == 200 and updated.json["result"]["active"] is False
    with app.app_context():
        assert db.session.get(TagRule, rule_id).conditions == [{"field": "return_rate", "op": ">=", "value": 20.0}]
    # another franchise's account manager does not see A's rule
    assert client.get("/api/v1/tiering/tag-rules/", headers=api_headers("tr_bm")).json["result"] == []


@pytest.mark.parametrize("body, field", [
    ({"conditions": [{"field": "nope", "op": ">", "value": 1}]}, "conditions"),
    ({"conditions": [{"field": "frequency", "op": ">", "value": "ten"}]}, "conditions"),
    ({"conditions": [{"field": "marketing_opt_out", "op": "is", "value": "maybe"}]}, "conditions"),
    ({"conditions": "frequency > 3"}, "conditions"),
    ({"tag": ""}, "tag"),
    ({"tag": "其他"}, "tag"),
    ({"active": "yes please"}, "active"),
    ({"franchise_id": None}, "franchise_id"),
])
def test_api_refuses_bad_input_naming_the_field_and_keeps_the_rule(app, clean, api_headers, body, field):
    with app.app_context():
        rule_id = add_rule(clean["A"], "原样", [{"field": "frequency", "op": ">", "value": 1}]).id
        add_rule(clean["A"], "其他", [{"field": "frequency", "op": ">", "value": 1}])
    client = app.test_client()
    answer = client.put(f"/api/v1/tiering/tag-rules/{rule_id}", headers=api_headers("ait"), json=body)
    assert answer.status_code == 422, answer.json
    assert field in answer.json["errors"] and answer.json["message"]
    with app.app_context():
        stored = db.session.get(TagRule, rule_id)
        assert (stored.tag, stored.active, stored.franchise_id) == ("原样", True, clean["A"])
        assert stored.conditions == [{"field": "frequency", "op": ">", "value": 1}]
    not_json = client.post("/api/v1/tiering/tag-rules/", headers=api_headers("ait"), data="tag=x")
    assert not_json.status_code == 400 and "body" in not_json.json["errors"]


def test_api_create_refuses_unknown_fields_and_stores_nothing(app, clean, api_headers):
    answer = app.test_client().post("/api/v1/tiering/tag-rules/", headers=api_headers("hq"), json={
        "tag": "新", "conditions": [{"field": "tag", "op": "has", "value": "x"}]})  # tags are segments-only
    assert answer.status_code == 422 and "'tag'" in answer.json["errors"]["conditions"]  # names the field
    with app.app_context():
        assert db.session.scalar(select(TagRule.id)) is None


def test_api_keeps_hq_rules_read_only_for_a_franchise(app, clean, api_headers):
    with app.app_context():
        rule_id = add_rule(None, "总部", [{"field": "frequency", "op": ">", "value": 1}]).id
    answer = app.test_client().put(f"/api/v1/tiering/tag-rules/{rule_id}", headers=api_headers("ait"),
                                   json={"tag": "改了"})
    assert answer.status_code == 403
    with app.app_context():
        assert db.session.get(TagRule, rule_id).tag == "总部"
