"""An agent of franchise A never sees, changes or picks a row of franchise B, in screens or through the API."""

import re

import pytest

from core.extensions import db
from core.plugins import set_activation
from tests.plugins.sample import SampleNote


@pytest.fixture(scope="module", autouse=True)
def notes(app):
    with app.app_context():
        set_activation("sample", enabled=True)
        ids = app.config["TEST_IDS"]
        rows = [SampleNote(title=f"note-A-{i}", franchise_id=ids["A"]) for i in range(3)]
        rows += [SampleNote(title=f"note-B-{i}", franchise_id=ids["B"]) for i in range(2)]
        db.session.add_all(rows)
        db.session.commit()
        app.config["NOTES"] = {r.title: r.id for r in rows}
    return app.config["NOTES"]


def b_note(notes):
    return notes["note-B-0"]


# --- HTML screens ------------------------------------------------------------------------------------


def test_agent_list_and_count_show_only_own_franchise(client_for):
    page = client_for("alice").get("/samplenoteview/list/").get_data(as_text=True)
    assert "note-A-0" in page and "note-A-2" in page
    assert "note-B-0" not in page and "note-B-1" not in page
    assert re.search(r":</strong>\s*3\s", page), "the record count shows 3 rows"


def test_agent_cannot_show_edit_or_delete_other_franchise_row(client_for, notes, app):
    alice = client_for("alice")
    pk = b_note(notes)
    assert alice.get(f"/samplenoteview/show/{pk}").status_code == 404
    assert alice.get(f"/samplenoteview/edit/{pk}").status_code == 404
    assert alice.post(f"/samplenoteview/edit/{pk}", data={"title": "hacked"}).status_code == 404
    assert alice.post(f"/samplenoteview/delete/{pk}").status_code == 404
    with app.app_context():
        row = db.session.get(SampleNote, pk)
        assert row is not None and row.title == "note-B-0"


def test_agent_cannot_run_an_action_on_other_franchise_rows(client_for, notes):
    alice = client_for("alice")
    assert alice.post(f"/samplenoteview/action/touch/{b_note(notes)}").status_code == 404
    mine = notes["note-A-1"]
    response = alice.post("/samplenoteview/action_post",
                          data={"action": "touch", "rowid": [str(mine), str(b_note(notes))]})
    assert response.json == {"touched": [mine]}


def test_agent_export_contains_only_own_rows(client_for):
    csv_text = client_for("alice").get("/samplenoteview/export/csv").get_data(as_text=True)
    assert "note-A-0" in csv_text and "note-B-0" not in csv_text


def test_agent_dropdown_offers_only_own_franchise(client_for):
    form = client_for("alice").get("/samplenoteview/add").get_data(as_text=True)
    assert "Franchise A" in form and "Franchise B" not in form


def test_agent_cannot_create_a_row_in_another_franchise(client_for, app, ids):
    alice = client_for("alice")
    response = alice.post("/samplenoteview/add", data={"title": "sneaky", "franchise": str(ids["B"])},
                          follow_redirects=True)
    assert response.status_code == 200
    with app.app_context():
        assert db.session.query(SampleNote).filter_by(title="sneaky").count() == 0


def test_agent_cannot_move_own_row_into_another_franchise(client_for, app, ids, notes):
    alice = client_for("alice")
    pk = notes["note-A-2"]
    alice.post(f"/samplenoteview/edit/{pk}", data={"title": "moved", "franchise": str(ids["B"])})
    with app.app_context():
        row = db.session.get(SampleNote, pk)
        assert row.franchise_id == ids["A"] and row.title == "note-A-2"


def test_user_without_assignment_sees_nothing(client_for):
    page = client_for("nobody").get("/samplenoteview/list/")
    # the plugin is active in no franchise of theirs: the page itself is absent
    assert page.status_code == 404


def test_hq_sees_both_franchises(client_for):
    page = client_for("hq").get("/samplenoteview/list/").get_data(as_text=True)
    assert "note-A-0" in page and "note-B-0" in page


def test_region_manager_sees_the_region_franchises_only(client_for):
    page = client_for("r1boss").get("/samplenoteview/list/").get_data(as_text=True)
    assert "note-A-0" in page and "note-B-0" not in page


# --- REST API ----------------------------------------------------------------------------------------


def test_api_list_count_and_show_are_scoped(app, api_headers, notes):
    client = app.test_client()
    headers = api_headers("alice")
    listing = client.get("/api/v1/sample_note/", headers=headers).json
    titles = {row["title"] for row in listing["result"]}
    assert listing["count"] == 3 and all(t.startswith("note-A") or t == "moved" for t in titles)
    assert client.get(f"/api/v1/sample_note/{b_note(notes)}", headers=headers).status_code == 404
    hq = client.get("/api/v1/sample_note/", headers=api_headers("hq")).json
    assert hq["count"] >= 5


def test_api_cannot_edit_or_delete_other_franchise_row(app, api_headers, notes):
    client = app.test_client()
    headers = api_headers("alice")
    pk = b_note(notes)
    assert client.put(f"/api/v1/sample_note/{pk}", json={"title": "x"}, headers=headers).status_code == 404
    assert client.delete(f"/api/v1/sample_note/{pk}", headers=headers).status_code == 404


def test_api_cannot_create_or_move_rows_into_another_franchise(app, api_headers, ids, notes):
    client = app.test_client()
    headers = api_headers("alice")
    created = client.post("/api/v1/sample_note/", json={"title": "api-b", "franchise": ids["B"]}, headers=headers)
    assert created.status_code == 422
    assert "franchise" in created.json["message"]
    moved = client.put(f"/api/v1/sample_note/{notes['note-A-0']}", json={"franchise": ids["B"]}, headers=headers)
    assert moved.status_code == 422 and "franchise" in moved.json["message"]
    own = client.post("/api/v1/sample_note/", json={"title": "api-a"}, headers=headers)
    assert own.status_code == 201, own.json
    with app.app_context():
        assert db.session.get(SampleNote, own.json["id"]).franchise_id == ids["A"]
        assert db.session.get(SampleNote, notes["note-A-0"]).franchise_id == ids["A"]


def test_api_related_dropdown_is_scoped(app, api_headers):
    client = app.test_client()
    info = client.get("/api/v1/sample_note/_info", headers=api_headers("alice"))
    assert info.status_code == 200
    franchise = next(c for c in info.json["add_columns"] if c["name"] == "franchise")
    assert [v["value"] for v in franchise["values"]] == ["Franchise A (A)"]
    assert "Project-Id-Version" not in info.get_data(as_text=True)


def test_api_user_without_assignment_gets_nothing(app, api_headers):
    client = app.test_client()
    assert client.get("/api/v1/sample_note/", headers=api_headers("nobody")).status_code == 404
    franchises = client.get("/api/v1/franchise/", headers=api_headers("nobody"))
    assert franchises.status_code in (200, 403)
    if franchises.status_code == 200:
        assert franchises.json["count"] == 0
