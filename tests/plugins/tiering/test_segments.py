"""Segments: counts and members are right for tier, RFM, tag, region, industry and custom-field conditions; a
franchise user never sees another franchise's customers (counts, members, exports); other plugins get a
SELECT they can INSERT ... SELECT from; bad input is refused naming the field; pages render in en and zh."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import Column, Integer, MetaData, Table, delete, func, insert, select

from core.audit import AuditLog
from core.extensions import db
from core.lowcode.models import CustomFieldDefinition
from core.models import Customer
from core.tenancy import EVERYTHING, Scope, scope_as
from plugins.tiering.models import CustomerTag, Segment, TagRule
from plugins.tiering.segments import segment_customers, segments_for
from plugins.tiering.segments.service import count_members, member_page
from tests.conftest import add_user
from tests.plugins.tiering.conftest import make_customer, make_value


@pytest.fixture(scope="module")
def network(app):
    """Customers of A (region R1) and B (region R2) with tiers, RFM segments, tags and a custom field, and an
    account manager of A."""
    with app.app_context():
        from core.tenancy import Franchise

        a = db.session.scalar(select(Franchise).where(Franchise.code == "A"))
        b = db.session.scalar(select(Franchise).where(Franchise.code == "B"))
        add_user(app, "sg_am", "Account Manager", franchises=[a])
        db.session.add(CustomFieldDefinition(entity="crm_customer", key="vip_level", label_zh="会员等级",
                                             label_en="VIP level", field_type="choice",
                                             choices="gold|金牌|Gold\nsilver|银牌|Silver"))
        rule = TagRule(franchise_id=a.id, tag="高频", conditions=[{"field": "frequency", "op": ">", "value": 0}])
        db.session.add(rule)
        db.session.flush()

        def customer(franchise, name, tier, segment, kind="B", **values):
            made = make_customer(franchise.id, name=name, kind=kind, **values)
            make_value(made, tier=tier, rfm_segment=segment, r_score=3, f_score=3, m_score=3, monthly_volume=10,
                       monthly_revenue=100)
            return made

        customer(a, "甲一电商", "A", "champions", industry="ecommerce", custom={"vip_level": "gold"})
        a2 = customer(a, "甲二工厂", "B", "loyal", industry="manufacturing", tags="VIP")
        a3 = customer(a, "张三", "C", "lost", kind="C", industry="ecommerce", district_code="330106")
        customer(b, "乙一电商", "A", "champions", industry="ecommerce", custom={"vip_level": "gold"})
        customer(b, "乙二零售", "C", "at_risk", industry="retail", custom={"vip_level": "silver"})
        merged = customer(a, "已合并", "A", "champions", industry="ecommerce")
        merged.merged_into_id = a2.id
        db.session.add(CustomerTag(customer_id=a3.id, rule_id=rule.id, tag="高频", franchise_id=a.id))
        db.session.commit()
        return {"A": a.id, "B": b.id}


def names(members) -> set[str]:
    return {m["name"] for m in members}


@pytest.mark.parametrize("conditions, expected", [
    ([{"field": "tier", "op": "in", "value": ["A"]}], {"甲一电商", "乙一电商"}),
    ([{"field": "tier", "op": "not_in", "value": ["A"]}], {"甲二工厂", "张*", "乙二零售"}),
    ([{"field": "rfm_segment", "op": "in", "value": ["lost", "at_risk"]}], {"张*", "乙二零售"}),
    ([{"field": "tag", "op": "has", "value": "VIP"}], {"甲二工厂"}),  # a manual tag
    ([{"field": "tag", "op": "has", "value": "高频"}], {"张*"}),  # a rule's tag
    ([{"field": "tag", "op": "has_not", "value": "VIP"}], {"甲一电商", "张*", "乙一电商", "乙二零售"}),
    ([{"field": "region", "op": "in", "value": ["R2"]}], {"乙一电商", "乙二零售"}),
    ([{"field": "industry", "op": "in", "value": ["ecommerce"]}], {"甲一电商", "张*", "乙一电商"}),
    ([{"field": "cf.vip_level", "op": "in", "value": ["gold"]}], {"甲一电商", "乙一电商"}),
    ([{"field": "industry", "op": "in", "value": ["ecommerce"]}, {"field": "region", "op": "in", "value": ["R1"]}],
     {"甲一电商", "张*"}),
    ([], {"甲一电商", "甲二工厂", "张*", "乙一电商", "乙二零售"}),
])
def test_counts_and_members_follow_the_conditions(app, network, conditions, expected):
    with app.test_request_context(), scope_as(EVERYTHING):
        members = member_page(None, conditions, EVERYTHING, limit=100)
        assert names(members) == expected  # persons masked, merged-away customers left out
        assert count_members(None, conditions, EVERYTHING) == len(expected)
        only_a = Scope(False, frozenset({network["A"]}))
        in_a = {n for n in expected if n.startswith(("甲", "张"))}
        assert names(member_page(None, conditions, only_a, limit=100)) == in_a


def test_members_show_tiers_scores_tags_and_district(app, network):
    with app.test_request_context(), scope_as(EVERYTHING):
        conditions = [{"field": "industry", "op": "in", "value": ["ecommerce"]},
                      {"field": "tier", "op": "in", "value": ["C"]}]
        (member,) = member_page(network["A"], conditions, Scope(False, frozenset({network["A"]})))
    assert member["name"] == "张*" and member["tier"] == "C" and member["tags"] == ["高频"]
    assert (member["r"], member["f"], member["m"]) == (3, 3, 3) and float(member["monthly_revenue"]) == 100
    assert "西湖" in member["district"]


def save(franchise_id, name, conditions) -> int:
    segment = Segment(franchise_id=franchise_id, name=name, conditions=conditions)
    db.session.add(segment)
    db.session.commit()
    return segment.id


def test_a_franchise_user_sees_only_its_franchise_in_counts_members_and_exports(app, network, client_for):
    with app.app_context():
        everyone = save(None, "所有电商", [{"field": "industry", "op": "in", "value": ["ecommerce"]}])
        b_only = save(network["B"], "乙的客户", [])
    am = client_for("sg_am")
    am.get("/lang/en")
    listing = am.get("/tiering/segments/").get_data(as_text=True)
    assert f'data-segment="{everyone}"' in listing and 'data-count="2"' in listing  # A's two, not B's
    assert "乙的客户" not in listing
    members = am.get(f"/tiering/segments/members/{everyone}").get_data(as_text=True)
    assert "甲一电商" in members and "张*" in members and "乙一电商" not in members
    exported = am.get(f"/tiering/segments/export/{everyone}.csv")
    rows = list(csv.reader(io.StringIO(exported.get_data(as_text=True).lstrip("\ufeff"))))
    assert sorted(r[1] for r in rows[1:]) == sorted(["甲一电商", "张*"])
    workbook = load_workbook(io.BytesIO(am.get(f"/tiering/segments/export/{everyone}.xlsx").data), read_only=True)
    assert sorted(r[1] for r in list(workbook.active.values)[1:]) == sorted(["甲一电商", "张*"])
    for url in (f"/tiering/segments/members/{b_only}", f"/tiering/segments/export/{b_only}.csv",
                f"/tiering/segments/edit/{b_only}"):
        assert am.get(url).status_code == 404
    hq = client_for("hq")
    assert hq.post("/tiering/segments/count", data={"segment_id": everyone, "cond-0-field": "industry",
                                                     "cond-0-op": "in", "cond-0-value": "ecommerce"}).json == {
        "count": 3}
    assert am.post("/tiering/segments/count", data={"segment_id": everyone, "cond-0-field": "industry",
                                                     "cond-0-op": "in", "cond-0-value": "ecommerce"}).json == {
        "count": 2}
    with app.app_context():
        audited = db.session.scalars(select(AuditLog).where(AuditLog.action == "export",
                                                            AuditLog.model == "Segment",
                                                            AuditLog.record_id == str(everyone))).all()
        assert {entry.changes["format"][1] for entry in audited} == {"csv", "xlsx"}
        assert {entry.username for entry in audited} == {"sg_am"}
        db.session.execute(delete(Segment))
        db.session.commit()


def test_members_page_by_customer_id(app, network, client_for, monkeypatch):
    from plugins.tiering.segments import views

    monkeypatch.setattr(views, "MEMBERS_PAGE", 2)
    with app.app_context():
        everyone = save(None, "全部", [])
        ids = db.session.scalars(select(Customer.id).where(Customer.merged_into_id.is_(None))
                                 .order_by(Customer.id)).all()
    hq = client_for("hq")
    seen, after = [], 0
    for _page in range(5):
        text = hq.get(f"/tiering/segments/members/{everyone}?after={after}").get_data(as_text=True)
        page_ids = [int(part.split('"')[0]) for part in text.split('data-customer="')[1:]]
        seen += page_ids
        if f"after={page_ids[-1]}" not in text:
            break
        after = page_ids[-1]
    assert seen == ids
    with app.app_context():
        db.session.execute(delete(Segment))
        db.session.commit()


def test_target_list_hook_gives_a_select_for_insert_select(app, network):
    targets = Table("sg_test_targets", MetaData(), Column("customer_id", Integer))
    with app.app_context():
        own = save(network["A"], "甲的电商", [{"field": "industry", "op": "in", "value": ["ecommerce"]}])
        shared = save(None, "金牌", [{"field": "cf.vip_level", "op": "in", "value": ["gold"]}])
        targets.create(db.engine)
        try:
            registry = app.extensions["crm_plugins"]
            query = registry.hook.crm_segment_customers(franchise_id=network["A"], segment_id=own)
            db.session.execute(insert(targets).from_select(["customer_id"], query))
            query = segment_customers(network["B"], shared)
            db.session.execute(insert(targets).from_select(["customer_id"], query))
            rows = db.session.execute(select(Customer.name).join(targets, targets.c.customer_id == Customer.id)
                                      .order_by(Customer.name)).scalars().all()
            assert sorted(rows) == sorted(["甲一电商", "张三", "乙一电商"])
            assert segment_customers(network["B"], own) is None  # A's segment is not B's to use
            assert segment_customers(network["A"], 999999) is None
            assert dict(segments_for(network["A"])) == {own: "甲的电商", shared: "金牌"}
            assert dict(registry.hook.crm_segments(franchise_id=network["B"])) == {shared: "金牌"}
        finally:
            db.session.rollback()
            targets.drop(db.engine)
            db.session.execute(delete(Segment))
            db.session.commit()


def segment_form(name, field, op, value, franchise="", **extra):
    return {"franchise": franchise, "name": name, "description": "", "cond-0-field": field, "cond-0-op": op,
            "cond-0-value": value, **extra}


def test_account_manager_saves_a_segment_of_its_franchise(app, network, client_for):
    am = client_for("sg_am")
    response = am.post("/tiering/segments/add", data={
        **segment_form("金牌电商", "cf.vip_level", "in", "gold"), "cond-3-field": "industry", "cond-3-op": "in",
        "cond-3-value": ["ecommerce", "retail"], "cond-5-field": ""})
    assert response.status_code == 302, response.data[:600]
    with app.app_context():
        segment = db.session.scalar(select(Segment).where(Segment.name == "金牌电商"))
        assert segment.franchise_id == network["A"]
        assert segment.conditions == [{"field": "cf.vip_level", "op": "in", "value": ["gold"]},
                                      {"field": "industry", "op": "in", "value": ["ecommerce", "retail"]}]
        db.session.execute(delete(Segment))
        db.session.commit()


@pytest.mark.parametrize("form, field, words", [
    (segment_form("新的", "galaxy", "in", "x"), "conditions", "unknown field"),
    (segment_form("新的", "monthly_revenue", ">", "lots"), "conditions", "Freight per month"),
    (segment_form("新的", "region", "in", "R9"), "conditions", "Region"),
    (segment_form("新的", "tier", ">", "A"), "conditions", "Tier"),
    (segment_form("", "tier", "in", "A"), "name", "name is required"),
    (segment_form("另一个", "tier", "in", "A"), "name", "already has a segment"),
])
def test_bad_segment_input_is_refused_naming_the_field(app, network, client_for, form, field, words):
    with app.app_context():
        kept = save(network["A"], "原来的", [{"field": "tier", "op": "in", "value": ["B"]}])
        save(network["A"], "另一个", [])
    am = client_for("sg_am")
    am.get("/lang/en")
    response = am.post(f"/tiering/segments/edit/{kept}", data=form)
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert f'data-field="{field}"' in text and words in text
    count = am.post("/tiering/segments/count", data={**form, "segment_id": kept})
    if field == "conditions":
        assert count.status_code == 400 and words in count.json["errors"]["conditions"]
    with app.app_context():
        stored = db.session.get(Segment, kept)
        assert (stored.name, stored.conditions) == ("原来的", [{"field": "tier", "op": "in", "value": ["B"]}])
        assert db.session.scalar(select(func.count()).select_from(Segment)) == 2
        db.session.execute(delete(Segment))
        db.session.commit()


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_segment_pages_render_in_both_languages(app, network, client_for, lang):
    with app.app_context():
        segment_id = save(None, "页面", [{"field": "rfm_segment", "op": "in", "value": ["champions"]},
                                         {"field": "marketing_opt_out", "op": "is", "value": False},
                                         {"field": "tag", "op": "has", "value": "VIP"},
                                         {"field": "cf.vip_level", "op": "not_in", "value": ["silver"]}])
    try:
        for user in ("hq", "sg_am"):
            client = client_for(user)
            client.get(f"/lang/{lang}")
            for url in ("/tiering/segments/", "/tiering/segments/add", f"/tiering/segments/members/{segment_id}",
                        f"/tiering/segments/fields?franchise={network['A']}"):
                response = client.get(url)
                assert response.status_code == 200, (user, url, response.data[:500])
        edit = client_for("hq").get(f"/tiering/segments/edit/{segment_id}")
        assert edit.status_code == 200
        assert 'value="champions" selected' in edit.get_data(as_text=True)
    finally:
        with app.app_context():
            db.session.execute(delete(Segment))
            db.session.commit()
