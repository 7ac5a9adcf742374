"""Custom fields added in a screen appear at once in forms, lists, REST schemas and OpenAPI, validated by type."""

import pytest
from sqlalchemy import select

from core.extensions import db
from core.lowcode.models import CustomFieldDefinition
from core.plugins import set_activation
from tests.plugins.sample import SampleNote

ENTITY = "test_sample_note"


@pytest.fixture(scope="module", autouse=True)
def active_everywhere(app):
    with app.app_context():
        set_activation("sample", enabled=True)
        db.session.commit()


def add_field(client, **values):
    form = {"entity": ENTITY, "label_zh": values.get("key", "f"), "label_en": values.get("key", "f"),
            "field_type": "text", "order": "10", "active": "y", **values}
    if form.get("required") is False:
        form.pop("required")
    return client.post("/customfieldview/add", data=form, follow_redirects=True)


@pytest.fixture(scope="module")
def vip_field(app):
    client = app.test_client()
    from tests.conftest import login

    login(client, "hq")
    add_field(client, key="vip_level", label_zh="会员等级", label_en="VIP level", field_type="integer",
              required="y")
    add_field(client, key="channel", label_zh="渠道", label_en="Channel", field_type="choice",
              choices="phone|电话|Phone\nwechat|微信|WeChat")
    with app.app_context():
        keys = set(db.session.scalars(select(CustomFieldDefinition.key)))
    assert {"vip_level", "channel"} <= keys
    return "vip_level"


def test_new_field_appears_in_the_add_form_and_the_list(client_for, vip_field, ids):
    alice = client_for("alice")
    form = alice.get("/samplenoteview/add").get_data(as_text=True)
    assert 'name="cf_vip_level"' in form and "会员等级" in form
    assert 'value="wechat"' in form and "微信" in form
    response = alice.post("/samplenoteview/add", data={"title": "with-vip", "cf_vip_level": "3",
                                                       "cf_channel": "wechat", "franchise": ids["A"]})
    assert response.status_code == 302
    listing = alice.get("/samplenoteview/list/").get_data(as_text=True)
    assert "会员等级" in listing and "with-vip" in listing


def test_form_refuses_a_wrong_type_naming_the_field(client_for, app, vip_field, ids):
    alice = client_for("alice")
    page = alice.post("/samplenoteview/add", data={"title": "bad-vip", "cf_vip_level": "lots",
                                                   "franchise": ids["A"]})
    assert page.status_code == 200  # the form comes back with the message
    assert "Not a valid integer value" in page.get_data(as_text=True) or "整数" in page.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(SampleNote).where(SampleNote.title == "bad-vip")) is None


def test_value_is_stored_in_the_json_column_and_shown(client_for, app, vip_field):
    with app.app_context():
        note = db.session.scalar(select(SampleNote).where(SampleNote.title == "with-vip"))
        assert note.custom == {"vip_level": 3, "channel": "wechat"}
        pk = note.id
    alice = client_for("alice")
    show = alice.get(f"/samplenoteview/show/{pk}").get_data(as_text=True)
    assert "会员等级" in show
    csv_text = alice.get("/samplenoteview/export/csv").get_data(as_text=True)
    assert "会员等级" in csv_text.splitlines()[0] and "with-vip,Franchise A (A),3,wechat" in csv_text
    edit = alice.get(f"/samplenoteview/edit/{pk}").get_data(as_text=True)
    assert 'name="cf_vip_level"' in edit and 'value="3"' in edit


def test_rest_schema_and_openapi_include_the_field(app, api_headers, vip_field):
    client = app.test_client()
    headers = api_headers("hq")
    spec = client.get("/api/v1/_openapi", headers=headers).json
    schemas = spec["components"]["schemas"]
    custom = schemas["SampleNoteCustomFields"]["properties"]
    assert custom["vip_level"]["type"] == "integer"
    assert [v for v in custom["channel"]["enum"] if v is not None] == ["phone", "wechat"]
    assert "vip_level" in schemas["SampleNoteCustomFields"].get("required", [])
    listing = client.get("/api/v1/sample_note/", headers=headers).json
    row = next(r for r in listing["result"] if r["title"] == "with-vip")
    assert row["custom"] == {"vip_level": 3, "channel": "wechat"}


def test_rest_post_refuses_wrong_type_and_missing_required_with_422(app, api_headers, ids, vip_field):
    client = app.test_client()
    headers = api_headers("alice")
    wrong = client.post("/api/v1/sample_note/", json={"title": "t", "custom": {"vip_level": "high"}},
                        headers=headers)
    assert wrong.status_code == 422
    assert wrong.json["message"] == {"custom": {"vip_level": ["Not a valid integer."]}}
    missing = client.post("/api/v1/sample_note/", json={"title": "t", "custom": {"channel": "phone"}},
                          headers=headers)
    assert missing.status_code == 422 and "vip_level" in missing.json["message"]["custom"]
    bad_choice = client.post("/api/v1/sample_note/", json={"title": "t", "custom": {"vip_level": 1,
                                                                                    "channel": "fax"}},
                             headers=headers)
    assert bad_choice.status_code == 422 and "channel" in bad_choice.json["message"]["custom"]
    good = client.post("/api/v1/sample_note/", json={"title": "api-vip", "custom": {"vip_level": 7}},
                       headers=headers)
    assert good.status_code == 201, good.json
    put = client.put(f"/api/v1/sample_note/{good.json['id']}", json={"custom": {"vip_level": "x"}}, headers=headers)
    assert put.status_code == 422 and "vip_level" in put.json["message"]["custom"]
    with app.app_context():
        assert db.session.get(SampleNote, good.json["id"]).custom == {"vip_level": 7}


def test_field_scoped_to_a_is_absent_for_b(app, client_for, api_headers, ids, vip_field):
    it = client_for("ait")
    add_field(it, key="a_only", label_zh="A专属", label_en="A only", franchise=str(ids["A"]))
    with app.app_context():
        definition = db.session.scalar(select(CustomFieldDefinition).where(CustomFieldDefinition.key == "a_only"))
        assert definition.franchise_id == ids["A"]
    assert 'name="cf_a_only"' in client_for("alice").get("/samplenoteview/add").get_data(as_text=True)
    assert 'name="cf_a_only"' not in client_for("bob").get("/samplenoteview/add").get_data(as_text=True)
    client = app.test_client()
    spec_b = client.get("/api/v1/sample_note/_info", headers=api_headers("bob")).json
    custom_b = next(c for c in spec_b["add_columns"] if c["name"] == "custom")
    assert custom_b is not None
    refused = client.post("/api/v1/sample_note/", json={"title": "b", "custom": {"vip_level": 1, "a_only": "x"}},
                          headers=api_headers("bob"))
    assert refused.status_code == 422 and "a_only" in refused.json["message"]["custom"]


def test_franchise_it_cannot_create_a_field_for_every_franchise(app, client_for):
    it = client_for("ait")
    add_field(it, key="global_try", label_zh="全局", label_en="Global")
    with app.app_context():
        assert db.session.scalar(select(CustomFieldDefinition).where(
            CustomFieldDefinition.key == "global_try")) is None


def test_definition_errors_are_reported_by_field(client_for, app):
    hq = client_for("hq")
    hq.get("/lang/en")
    page = add_field(hq, key="Bad Key!", label_zh="x", label_en="x").get_data(as_text=True)
    assert "Key: Use lower-case letters" in page
    page = add_field(hq, key="pick", field_type="choice", choices="").get_data(as_text=True)
    assert "Choices: A choice field needs at least one choice." in page
    with app.app_context():
        assert db.session.scalar(select(CustomFieldDefinition).where(CustomFieldDefinition.key == "pick")) is None


def test_layout_orders_fieldsets_and_hides_fields(client_for, app, vip_field):
    hq = client_for("hq")
    hq.post("/formlayoutview/add", data={"entity": ENTITY, "fieldsets": "基本: title, cf_vip_level\n归属: franchise",
                                         "hidden": "cf_channel"})
    form = client_for("alice").get("/samplenoteview/add").get_data(as_text=True)
    assert "基本" in form and "归属" in form
    assert 'name="cf_channel"' not in form
    assert form.index('name="title"') < form.index('name="cf_vip_level"')
    refused = hq.post("/formlayoutview/add", data={"entity": ENTITY, "fieldsets": "", "hidden": "cf_vip_level",
                                                   "franchise": str(app.config["TEST_IDS"]["A"])},
                      follow_redirects=True)
    assert "cf_vip_level" in refused.get_data(as_text=True)


def test_list_and_api_filter_by_custom_field_values(app, client_for, api_headers, ids, vip_field):
    with app.app_context():
        db.session.add_all([
            SampleNote(title="vip-9", franchise_id=ids["A"], custom={"vip_level": 9, "channel": "phone"}),
            SampleNote(title="vip-1", franchise_id=ids["A"], custom={"vip_level": 1, "channel": "phone"}),
        ])
        db.session.commit()
    alice = client_for("alice")
    page = alice.get("/samplenoteview/list/?_flt_1_cf_vip_level=5").get_data(as_text=True)  # greater than 5
    assert "vip-9" in page and "vip-1" not in page
    assert 'name="cf_vip_level"' in page  # offered in the search form
    client = app.test_client()
    query = "(filters:!((col:cf_vip_level,opr:cf_lt,value:2)))"
    result = client.get(f"/api/v1/sample_note/?q={query}", headers=api_headers("alice")).json
    assert [r["title"] for r in result["result"]] == ["vip-1"]
    query = "(filters:!((col:cf_channel,opr:cf_eq,value:phone)))"
    titles = {r["title"] for r in client.get(f"/api/v1/sample_note/?q={query}", headers=api_headers("alice")).json["result"]}
    assert titles == {"vip-9", "vip-1"}
    bad = client.get("/api/v1/sample_note/?q=(filters:!((col:cf_nope,opr:cf_eq,value:1)))", headers=api_headers("alice"))
    assert bad.status_code == 400


def test_api_refuses_duplicates_and_non_object_bodies_without_a_trace(app, api_headers):
    client = app.test_client()
    headers = api_headers("hq")
    body = {"entity": ENTITY, "key": "dup_key", "label_zh": "重复", "label_en": "Dup", "field_type": "text",
            "order": 1, "active": True, "required": False}
    assert client.post("/api/v1/custom_field/", json=body, headers=headers).status_code == 201
    again = client.post("/api/v1/custom_field/", json=body, headers=headers)
    assert again.status_code == 422
    assert "Traceback" not in again.get_data(as_text=True) and "SQL" not in again.json["message"]
    assert client.post("/api/v1/custom_field/", json=[body], headers=headers).status_code == 400
    wrong_type = client.post("/api/v1/custom_field/", json={**body, "key": "k2", "field_type": "colour"},
                             headers=headers)
    assert wrong_type.status_code == 422 and "field_type" in wrong_type.json["message"]
