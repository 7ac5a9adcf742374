"""Screens behave as people expect: unticking a box saves a no, errors are pages of the shell, titles translate."""

from core.extensions import db
from core.tenancy import Franchise


def test_a_franchise_can_be_switched_off_by_unticking_active(app, client_for, ids):
    hq = client_for("hq")
    response = hq.post(f"/franchiseview/edit/{ids['B']}", data={"name": "Franchise B", "region": ids["R2"]})
    assert response.status_code == 302
    with app.app_context():
        assert db.session.get(Franchise, ids["B"]).active is False
    hq.post(f"/franchiseview/edit/{ids['B']}", data={"name": "Franchise B", "region": ids["R2"], "active": "y"})
    with app.app_context():
        assert db.session.get(Franchise, ids["B"]).active is True


def test_franchise_it_cannot_move_its_franchise_to_another_region(app, client_for, ids):
    it = client_for("ait")
    form = it.get(f"/franchiseview/edit/{ids['A']}").get_data(as_text=True)
    assert "Region one" in form and "Region two" not in form  # only regions of their own franchises
    page = it.post(f"/franchiseview/edit/{ids['A']}", data={"name": "Franchise A", "region": ids["R2"],
                                                              "active": "y"}, follow_redirects=True)
    assert page.status_code == 200
    with app.app_context():
        assert db.session.get(Franchise, ids["A"]).region_id == ids["R1"]


def test_missing_and_forbidden_pages_are_shell_pages_and_api_errors_json(app, client_for, api_headers):
    agent = client_for("alice")
    missing = agent.get("/no/such/page")
    assert missing.status_code == 404 and 'class="jumbotron"' in missing.get_data(as_text=True)
    forbidden = agent.get("/customfieldview/list/")
    assert forbidden.status_code == 403 and 'class="jumbotron"' in forbidden.get_data(as_text=True)
    api = app.test_client().get("/api/v1/no_such_api/", headers=api_headers("alice"))
    assert api.status_code == 404 and api.is_json and "message" in api.json
    assert app.test_client().get("/favicon.ico").status_code == 204


def test_titles_and_values_read_well_in_chinese(client_for):
    page = client_for("hq").get("/franchiseview/list/").get_data(as_text=True)
    assert "List Franchise" not in page and "加盟商" in page
    assert ">是<" in page.replace(" ", "").replace("\n", "") or "是" in page
    assert "True" not in page


def test_franchises_take_custom_fields(app, client_for, ids):
    hq = client_for("hq")
    form = hq.get("/customfieldview/add").get_data(as_text=True)
    assert 'value="crm_franchise"' in form
    hq.post("/customfieldview/add", data={"entity": "crm_franchise", "key": "manager_phone", "label_zh": "店长电话",
                                          "label_en": "Manager phone", "field_type": "phone", "order": "1", "active": "y"})
    edit = hq.get(f"/franchiseview/edit/{ids['A']}").get_data(as_text=True)
    assert 'name="cf_manager_phone"' in edit
    bad = hq.post(f"/franchiseview/edit/{ids['A']}", data={"name": "Franchise A", "region": ids["R1"], "active": "y",
                                                            "cf_manager_phone": "12345"})
    assert bad.status_code == 200  # the form comes back with the phone message
    with app.app_context():
        assert (db.session.get(Franchise, ids["A"]).custom or {}).get("manager_phone") is None
    hq.post(f"/franchiseview/edit/{ids['A']}", data={"name": "Franchise A", "region": ids["R1"], "active": "y",
                                                      "cf_manager_phone": "13800138000"})
    with app.app_context():
        assert db.session.get(Franchise, ids["A"]).custom["manager_phone"] == "13800138000"


def test_lists_show_names_not_codes_or_none(app, client_for):
    hq = client_for("hq")
    fields = hq.get("/customfieldview/list/").get_data(as_text=True)
    assert "crm_franchise" not in fields and "加盟商" in fields and ">None<" not in fields.replace(" ", "")
    audit = hq.get("/auditlogview/list/?psize_AuditLogView=100").get_data(as_text=True)
    assert "None" not in audit.split("<tbody>")[-1]
