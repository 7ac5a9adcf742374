"""Customers, their 360 page, and personal data: encrypted at rest, masked everywhere, unmasked with an audit."""

from __future__ import annotations

import datetime as dt
import json

import io
from urllib.parse import quote

import openpyxl
import pytest
from sqlalchemy import select, text

from core.audit import AuditLog
from core.extensions import db
from core.plugins import set_activation
from core.models import Address, CommunicationRecord, Contact, Customer, Shipment, TrackingEvent
from core.tenancy import EVERYTHING, scope_as

PHONE = "13812345678"
ID_NUMBER = "11010519491231002X"
CREDIT_CODE = "91310115MA1K3YJ25X"


def phone_filter(number):
    return quote(f"(filters:!((col:phone_hash,opr:eq_hash,value:'{number}')))")


@pytest.fixture(scope="module")
def people(app):
    """Franchise A: a person with a phone and ID, a shop with contacts, addresses, shipments, a record.
    Franchise B: a person with the same phone number."""
    ids = app.config["TEST_IDS"]
    with app.app_context(), scope_as(EVERYTHING):
        zhang = Customer(franchise_id=ids["A"], kind="C", name="张三丰", phone=PHONE, id_number=ID_NUMBER,
                         district_code="310115")
        shop = Customer(franchise_id=ids["A"], kind="B", name="优品旗舰店", company_name="上海优品贸易有限公司",
                        credit_code=CREDIT_CODE, phone="021-55556666", billing_mode="monthly")
        other = Customer(franchise_id=ids["B"], kind="C", name="李四", phone=PHONE)
        db.session.add_all([zhang, shop, other])
        db.session.flush()
        db.session.add_all([
            Contact(franchise_id=ids["A"], customer=shop, name="王经理", phone="13900001111", is_primary=True),
            Address(franchise_id=ids["A"], customer=shop, kind="sender", district_code="310104",
                    detail="漕溪北路88号", contact_name="王经理", phone="13900001111"),
        ])
        parcel = Shipment(franchise_id=ids["A"], customer=shop, waybill_no="YD4312345678901", receiver_name="赵六",
                          receiver_phone="13700002222", receiver_district_code="440106",
                          receiver_address="天河路1号", created_at=dt.datetime(2026, 11, 1, 8), weight_kg=1.2, fee=8)
        db.session.add(parcel)
        db.session.flush()
        db.session.add_all([
            TrackingEvent(franchise_id=ids["A"], shipment=parcel, occurred_at=dt.datetime(2026, 11, 1, 9),
                          status="PICKED_UP", provider="kuaidi100", raw_code="103", raw_text="已揽收"),
            CommunicationRecord(franchise_id=ids["A"], customer=shop, topic="双11 价格", channel="visit",
                                key_issues="希望降价", agreement="九五折", next_action="发合同",
                                next_action_due=dt.date(2026, 11, 30), occurred_at=dt.datetime(2026, 11, 2, 10)),
        ])
        set_activation("sample", enabled=True)  # its 360 panel and data-export section take part
        db.session.commit()
        return {"zhang": zhang.id, "shop": shop.id, "other": other.id, "parcel": parcel.id}


def test_personal_data_is_encrypted_at_rest(app, people):
    with app.app_context():
        row = db.session.execute(text("SELECT * FROM crm_customer WHERE id = :id"), {"id": people["zhang"]}).mappings().one()
        stored = " ".join(str(v) for v in row.values())
        assert PHONE not in stored and ID_NUMBER not in stored
        assert row["phone_enc"].startswith("g1:") and len(row["phone_hash"]) == 32
        address = db.session.execute(text("SELECT * FROM crm_address")).mappings().first()
        assert "漕溪北路" not in " ".join(str(v) for v in address.values())


def test_lists_pages_and_api_show_masked_values(app, people, client_for, api_headers):
    hq = client_for("hq")
    listing = hq.get("/customers/list/").get_data(as_text=True)
    assert "138****5678" in listing and PHONE not in listing
    assert "张**" in listing and "张三丰" not in listing
    assert "优品旗舰店" in listing  # a business's name is not personal data
    page = hq.get(f"/customers/show/{people['zhang']}").get_data(as_text=True)
    assert "138****5678" in page and "110***********002X" in page and ID_NUMBER not in page
    headers = api_headers("hq")
    item = hq.get(f"/api/v1/customer/{people['zhang']}", headers=headers).json["result"]
    assert item["phone"] == "138****5678" and item["name"] == "张**" and item["id_number"] == "110***********002X"
    assert "phone_hash" not in item and "phone_enc" not in item
    parcel = hq.get(f"/api/v1/shipment/{people['parcel']}", headers=headers).json["result"]
    assert parcel["receiver_phone"] == "137****2222" and parcel["receiver_name"] == "赵*"
    assert parcel["receiver_address"] == "****"


def test_exports_are_masked(app, people, client_for):
    hq = client_for("hq")
    csv_text = hq.get("/customers/export/csv").get_data(as_text=True)
    assert "138****5678" in csv_text and PHONE not in csv_text and "张三丰" not in csv_text
    response = hq.get("/customers/export/xlsx")
    assert response.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(response.data), read_only=True).active
    cells = [str(c) for row in sheet.iter_rows(values_only=True) for c in row]
    assert "138****5678" in cells and PHONE not in cells


def test_search_by_full_phone_number_uses_the_blind_index(app, people, client_for, api_headers):
    hq = client_for("hq")
    found = hq.get(f"/api/v1/customer/?q={phone_filter('+86 138-1234-5678')}", headers=api_headers("hq")).json
    assert {r["id"] for r in found["result"]} == {people["zhang"], people["other"]}
    none = hq.get(f"/api/v1/customer/?q={phone_filter('13800000000')}", headers=api_headers("hq")).json
    assert none["count"] == 0
    lookup = hq.get("/api/v1/customer/lookup?phone=138%201234%205678", headers=api_headers("hq")).json["result"]
    assert {r["id"] for r in lookup} == {people["zhang"], people["other"]}
    assert {r["phone"] for r in lookup} == {"138****5678"}
    assert hq.get("/api/v1/customer/lookup?phone=12", headers=api_headers("hq")).status_code == 400
    page = hq.get(f"/customers/list/?_flt_0_phone_hash={PHONE}").get_data(as_text=True)
    assert "张**" in page and "优品旗舰店" not in page
    # an agent of A finds only A's customer with that number
    alice = client_for("alice")
    mine = alice.get(f"/api/v1/customer/?q={phone_filter(PHONE)}", headers=api_headers("alice")).json
    assert [r["id"] for r in mine["result"]] == [people["zhang"]]
    looked_up = alice.get(f"/api/v1/customer/lookup?phone={PHONE}", headers=api_headers("alice")).json
    assert [r["id"] for r in looked_up["result"]] == [people["zhang"]]


def test_unmask_needs_the_permission_and_a_reason_and_is_audited(app, people, client_for, api_headers):
    alice = client_for("alice")
    url = f"/api/v1/customer/{people['zhang']}/unmask"
    refused = alice.post(url, json={"fields": ["phone"], "reason": "callback"}, headers=api_headers("alice"))
    assert refused.status_code == 403
    hq = client_for("hq")
    headers = api_headers("hq")
    missing = hq.post(url, json={"fields": ["phone"]}, headers=headers)
    assert missing.status_code == 422 and "reason" in missing.json["message"]
    shown = hq.post(url, json={"fields": ["phone", "id_number"], "reason": "客户来电核实身份"}, headers=headers)
    assert shown.status_code == 200
    assert shown.json["result"] == {"phone": PHONE, "id_number": ID_NUMBER}
    with app.app_context():
        entry = db.session.scalars(select(AuditLog).where(AuditLog.action == "unmask")
                                   .order_by(AuditLog.id.desc())).first()
        assert entry.username == "hq" and entry.record_id == str(people["zhang"])
        assert entry.reason == "客户来电核实身份" and entry.changes["fields"][1] == ["id_number", "phone"]
    # the screen: the 360 page with the values in full after a reason
    page = hq.post(f"/customers/unmask/{people['zhang']}", data={"reason": "核实"}).get_data(as_text=True)
    assert PHONE in page and "张三丰" in page
    other_franchise = client_for("bob").get(f"/customers/show/{people['zhang']}")
    assert other_franchise.status_code == 404


def test_360_page_gathers_the_customer_and_plugin_panels(app, people, client_for):
    page = client_for("hq").get(f"/customers/show/{people['shop']}").get_data(as_text=True)
    for expected in ("王**", "上海市徐汇区****", "YD4312345678901", "双11 价格", "九五折", "发合同",
                     "Sample panel", "sample notes in this franchise"):
        assert expected in page, expected
    assert "漕溪北路" not in page
    # a failing plugin panel shows a notice, the page still answers
    assert "Broken panel" in page


def test_bad_input_gets_field_messages_and_stores_nothing(app, people, client_for, api_headers, ids):
    hq = client_for("hq")
    headers = api_headers("hq")
    cases = [
        ({"kind": "C", "name": "甲", "phone": "12345", "franchise": ids["A"]}, "phone"),
        ({"kind": "C", "name": "乙", "district_code": "999999", "franchise": ids["A"]}, "district_code"),
        ({"kind": "B", "name": "丙", "credit_code": "91310115MA1K3YJ250", "franchise": ids["A"]}, "credit_code"),
        ({"kind": "X", "name": "丁", "franchise": ids["A"]}, "kind"),
    ]
    with app.app_context():
        before = db.session.scalar(select(db.func.count()).select_from(Customer))
    with app.app_context():
        bob = app.appbuilder.sm.find_user(username="bob").id  # works in franchise B
    cases.append(({"kind": "B", "name": "戊", "account_manager": bob, "franchise": ids["A"]}, "account_manager"))
    for body, field in cases:
        response = hq.post("/api/v1/customer/", json=body, headers=headers)
        assert response.status_code == 422, (body, response.json)
        assert field in response.json["message"], response.json
    duplicate = hq.post("/api/v1/shipment/", json={"waybill_no": "YD4312345678901", "franchise": ids["A"]},
                        headers=headers)
    assert duplicate.status_code == 422 and "waybill_no" in duplicate.json["message"]
    future = hq.post("/api/v1/shipment/", json={"waybill_no": "YD999000111", "franchise": ids["A"],
                                                "created_at": "2099-01-01T00:00:00"}, headers=headers)
    assert future.status_code == 422 and "created_at" in future.json["message"]
    contract = hq.post("/api/v1/contract/", json={"customer": people["shop"], "number": "HT-1", "franchise": ids["A"],
                                                  "start_date": "2026-12-01", "end_date": "2026-11-01"},
                       headers=headers)
    assert contract.status_code == 422 and "end_date" in contract.json["message"]
    with app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(Customer)) == before


def test_forms_never_show_stored_personal_data_and_blank_keeps_it(app, people, client_for, ids):
    it = client_for("ait")
    created = it.post("/customers/add", data={"kind": "C", "name": "钱七", "phone": "139 0000 3333",
                                               "status": "active", "source": "counter",
                                               "franchise": ids["A"]})
    assert created.status_code == 302
    with app.app_context():
        customer = db.session.scalars(select(Customer).where(Customer.name == "钱七")).one()
        assert customer.phone == "13900003333" and customer.franchise_id == ids["A"]
        pk = customer.id
    form = it.get(f"/customers/edit/{pk}").get_data(as_text=True)
    assert "13900003333" not in form and "139****3333" in form
    it.post(f"/customers/edit/{pk}", data={"kind": "C", "name": "钱七", "phone": "", "status": "dormant",
                                           "source": "counter", "franchise": ids["A"]})
    with app.app_context():
        customer = db.session.get(Customer, pk)
        assert customer.status == "dormant" and customer.phone == "13900003333"
    bad = it.post(f"/customers/edit/{pk}", data={"kind": "C", "name": "钱七", "phone": "000",
                                                        "status": "active", "source": "counter", "franchise": ids["A"]})
    assert bad.status_code == 200  # the form again, with the message under the field
    with app.app_context():
        assert db.session.get(Customer, pk).status == "dormant"


def test_data_subject_export_and_erase(app, people, client_for):
    agent = client_for("alice")
    assert agent.post(f"/personal-data/export/{people['shop']}", data={"reason": "x1"}).status_code in (302, 403)
    it = client_for("ait")
    exported = it.post(f"/personal-data/export/{people['shop']}", data={"reason": "申请单 2026-001"})
    assert exported.status_code == 200
    document = json.loads(exported.data)
    assert document["data"]["customer"][0]["phone"] == "02155556666"
    assert document["data"]["contacts"][0]["phone"] == "13900001111"
    assert document["data"]["shipments"][0]["receiver_phone"] == "13700002222"
    assert document["data"]["tracking_events"][0]["raw_text"] == "已揽收"
    assert document["data"]["sample"][0]["note"] == "held by the sample plugin"

    wrong = it.post(f"/personal-data/erase/{people['shop']}", data={"reason": "申请单 2026-002", "confirm": "0"})
    assert wrong.status_code == 302
    with app.app_context():
        assert db.session.get(Customer, people["shop"]).erased_at is None
    erased = it.post(f"/personal-data/erase/{people['shop']}",
                     data={"reason": "申请单 2026-002", "confirm": str(people["shop"])})
    assert erased.status_code == 302
    with app.app_context():
        shop = db.session.get(Customer, people["shop"])
        assert shop.erased_at is not None and shop.phone is None and shop.phone_hash is None
        assert shop.contacts[0].phone is None and shop.addresses[0].detail is None
        assert shop.addresses[0].district_code == "310104"  # statistics keep the district
        parcel = db.session.get(Shipment, people["parcel"])
        assert parcel.receiver_phone is None and parcel.receiver_name is None and float(parcel.fee) == 8
        assert shop.communications[0].agreement is None
        actions = [e.action for e in db.session.scalars(select(AuditLog).where(
            AuditLog.record_id == str(people["shop"]), AuditLog.model == "Customer"))]
        assert "export" in actions and "erase" in actions
        everything = " ".join(json.dumps(e.changes, ensure_ascii=False) for e in db.session.scalars(select(AuditLog)))
        for secret in ("13900001111", "王经理", "九五折", "漕溪北路", "张三丰"):
            assert secret not in everything, secret


def test_a_tracking_scan_moves_the_shipment_status_but_an_older_one_does_not(app, people, client_for, ids):
    with app.app_context(), scope_as(EVERYTHING):
        parcel = Shipment(franchise_id=ids["A"], waybill_no="YD5550001111", receiver_phone="13755556666",
                          created_at=dt.datetime(2026, 11, 1, 8))
        db.session.add(parcel)
        db.session.commit()
        pk = parcel.id
    alice = client_for("alice")
    newest = alice.post("/tracking-events/add", data={"shipment": "YD5550001111", "status": "OUT_FOR_DELIVERY",
                                                      "occurred_at": "2026-11-02 09:00:00", "franchise": ids["A"]})
    assert newest.status_code == 302
    late = alice.post("/tracking-events/add", data={"shipment": "yd5550001111", "status": "IN_TRANSIT",
                                                    "occurred_at": "2026-11-01 20:00:00", "franchise": ids["A"]})
    assert late.status_code == 302
    with app.app_context():
        parcel = db.session.get(Shipment, pk)
        assert parcel.status == "OUT_FOR_DELIVERY" and len(parcel.events) == 2
    alice.get("/lang/en")
    page = alice.get(f"/shipments/show/{pk}").get_data(as_text=True)
    assert "Out for delivery" in page and "137****6666" in page and "13755556666" not in page


def test_contacts_take_phones_in_plain_text_and_answer_masked(app, people, client_for, api_headers, ids):
    it = client_for("ait")
    headers = api_headers("ait")
    created = it.post("/api/v1/contact/", json={"customer": people["zhang"], "name": "孙八", "phone": "13611112222"},
                      headers=headers)
    assert created.status_code == 201, created.json
    assert created.json["result"]["phone"] == "136****2222" and created.json["result"]["name"] == "孙*"
    bad = it.post("/api/v1/contact/", json={"customer": people["zhang"], "name": "孙九", "phone": "1361111"},
                  headers=headers)
    assert bad.status_code == 422 and "phone" in bad.json["message"]
    foreign = it.post("/api/v1/contact/", json={"customer": people["other"], "name": "周十", "phone": "13611113333"},
                      headers=headers)
    assert foreign.status_code == 422  # a customer of franchise B is not theirs to point at
    shown = it.post(f"/api/v1/contact/{created.json['id']}/unmask", json={"reason": "回访"}, headers=headers)
    assert shown.json["result"] == {"phone": "13611112222", "name": "孙八", "email": None}


def test_a_shipment_may_go_to_another_franchise(app, people, client_for, api_headers, ids):
    it = client_for("ait")
    created = it.post("/api/v1/shipment/", json={"waybill_no": "YD7770001111", "dest_franchise": ids["B"]},
                      headers=api_headers("ait"))
    assert created.status_code == 201, created.json
    assert created.json["result"]["dest_franchise"]["id"] == ids["B"]
    with app.app_context():
        assert db.session.get(Shipment, created.json["id"]).franchise_id == ids["A"]
    # the customer must still be one of theirs
    foreign = it.post("/api/v1/shipment/", json={"waybill_no": "YD7770002222", "customer": people["other"]},
                      headers=api_headers("ait"))
    assert foreign.status_code == 422


def test_forms_point_at_customers_by_id_without_listing_them(app, people, client_for, ids):
    it = client_for("ait")
    form = it.get(f"/contacts/add?customer={people['zhang']}").get_data(as_text=True)
    assert f'value="{people["zhang"]}"' in form and "优品旗舰店" not in form  # no dropdown of every customer
    foreign = it.post("/contacts/add", data={"customer": people["other"], "name": "吴一", "franchise": ids["A"]})
    assert foreign.status_code == 200  # the form again: franchise B's customer does not exist for them
    mine = it.post("/contacts/add", data={"customer": people["zhang"], "name": "吴二", "franchise": ids["A"]})
    assert mine.status_code == 302
    with app.app_context():
        names = {c.name for c in db.session.scalars(select(Contact).where(Contact.name.in_(["吴一", "吴二"])))}
        assert names == {"吴二"}


def test_lists_filter_by_franchise_with_a_drop_down_of_the_users_franchises(app, people, client_for, ids):
    hq = client_for("hq")
    page = hq.get(f"/customers/list/?_flt_0_franchise={ids['B']}").get_data(as_text=True)
    assert "李*" in page and "张**" not in page
    assert "Franchise A (A)" in page and "Franchise B (B)" in page  # the filter's options
    agent_page = client_for("alice").get("/customers/list/").get_data(as_text=True)
    assert "Franchise A (A)" in agent_page and "Franchise B (B)" not in agent_page
