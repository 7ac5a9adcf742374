"""A plugin switched on for franchise A only: A's people get it, B's do not, and switching keeps the data."""

import types

import pluggy
import pytest
from sqlalchemy import String, cast, literal, select

from core import jobs
from core.events import emit, emit_from_select
from core.extensions import db, sql_json_object
from core.hookspecs import hookimpl
from core.plugins import PluginActivation, PluginError, PluginRegistry, set_activation
from core.tenancy import Franchise
from tests.plugins.sample import SampleNote, SampleRecord


@pytest.fixture(scope="module", autouse=True)
def only_in_a(app):
    with app.app_context():
        ids = app.config["TEST_IDS"]
        set_activation("sample", enabled=True, franchise_id=ids["A"])
        db.session.add_all([SampleNote(title="kept-A", franchise_id=ids["A"]),
                            SampleNote(title="kept-B", franchise_id=ids["B"])])
        db.session.commit()


def records(app, kind):
    with app.app_context():
        return sorted((r.franchise_id, r.detail) for r in db.session.scalars(
            select(SampleRecord).where(SampleRecord.kind == kind)))


def test_menu_shows_for_a_and_not_for_b(client_for):
    assert "Sample notes" in client_for("alice").get("/").get_data(as_text=True)
    assert "Sample notes" not in client_for("bob").get("/").get_data(as_text=True)


def test_pages_and_api_answer_404_where_inactive(app, client_for, api_headers):
    assert client_for("alice").get("/samplenoteview/list/").status_code == 200
    assert client_for("bob").get("/samplenoteview/list/").status_code == 404
    client = app.test_client()
    assert client.get("/api/v1/sample_note/", headers=api_headers("alice")).status_code == 200
    response = client.get("/api/v1/sample_note/", headers=api_headers("bob"))
    assert response.status_code == 404 and response.json == {"message": "Not found"}


def test_event_hook_runs_for_a_and_not_for_b(app, ids):
    with app.app_context():
        emit("sample.happened", ids["A"], {"n": 1})
        emit("sample.happened", ids["B"], {"n": 2})
        db.session.commit()  # embedded mode: delivered in-process after commit
    assert records(app, "event") == [(ids["A"], "sample.happened:1")]


def test_events_queued_by_one_insert_select_are_delivered_after_commit(app, ids):
    with app.app_context():
        numbers = select(Franchise.id.label("n")).where(Franchise.id.in_([ids["A"], ids["B"]])).subquery()
        payloads = select(sql_json_object(n=numbers.c.n + 9, event_id=literal("bulk-") + cast(numbers.c.n, String)))
        assert emit_from_select("sample.bulk", ids["A"], payloads) == 2
        emit_from_select("sample.bulk", ids["B"], payloads)  # the sample plugin is inactive in B
        db.session.commit()
    got = [row for row in records(app, "event") if row[1].startswith("sample.bulk")]
    assert sorted(got) == sorted([(ids["A"], f"sample.bulk:{ids['A'] + 9}"), (ids["A"], f"sample.bulk:{ids['B'] + 9}")])


def test_event_is_not_delivered_when_the_transaction_rolls_back(app, ids):
    with app.app_context():
        emit("sample.happened", ids["A"], {"n": 99})
        db.session.rollback()
    assert (ids["A"], "sample.happened:99") not in records(app, "event")


def test_periodic_job_runs_for_a_only(app, ids):
    with app.app_context():
        assert jobs.run_due() == 1
        db.session.commit()
        assert jobs.run_due() == 0  # not due again before its interval
    assert records(app, "tick") == [(ids["A"], None)]


def test_disable_keeps_rows_and_enable_brings_them_back(app, ids, client_for):
    with app.app_context():
        set_activation("sample", enabled=False, franchise_id=ids["A"])
        db.session.commit()
    assert client_for("alice").get("/samplenoteview/list/").status_code == 404
    with app.app_context():
        assert db.session.scalar(select(SampleNote).where(SampleNote.title == "kept-A")) is not None
        set_activation("sample", enabled=True, franchise_id=ids["A"])
        db.session.commit()
    page = client_for("alice").get("/samplenoteview/list/").get_data(as_text=True)
    assert "kept-A" in page and "kept-B" not in page


def test_hq_can_make_a_plugin_unavailable_to_a_region(app, ids, client_for):
    with app.app_context():
        set_activation("sample", available=False, region_id=ids["R1"])
        db.session.commit()
    try:
        assert client_for("alice").get("/samplenoteview/list/").status_code == 404
    finally:
        with app.app_context():
            set_activation("sample", available=None, region_id=ids["R1"])
            db.session.commit()
    assert client_for("alice").get("/samplenoteview/list/").status_code == 200


def test_franchise_it_switches_only_its_own_franchises(app, ids, client_for):
    it = client_for("ait")
    it.post("/plugins/set", data={"plugin": "sample", "level": "franchise", "target": ids["B"], "value": "on"})
    it.post("/plugins/set", data={"plugin": "sample", "level": "global", "value": "on"})
    with app.app_context():
        rows = db.session.scalars(select(PluginActivation).where(PluginActivation.plugin == "sample")).all()
        assert {(r.region_id, r.franchise_id) for r in rows if r.enabled} == {(None, ids["A"])}
    response = it.post("/plugins/set", data={"plugin": "sample", "level": "franchise", "target": ids["A"],
                                             "value": "off"}, follow_redirects=True)
    assert response.status_code == 200
    with app.app_context():
        assert ids["A"] not in app.extensions["crm_plugins"].active_franchises("sample")
        set_activation("sample", enabled=True, franchise_id=ids["A"])
        db.session.commit()


def test_plugin_screen_lists_plugins_with_their_state(client_for):
    page = client_for("hq").get("/plugins/").get_data(as_text=True)
    assert 'data-plugin="sample"' in page and "1.2.3" in page


def test_settings_are_validated_by_the_plugin_schema(app, ids, client_for):
    it = client_for("ait")
    bad = it.post(f"/plugins/sample/settings/{ids['A']}", data={"greeting": "x", "max_notes": "many"})
    page = bad.get_data(as_text=True)
    assert bad.status_code == 200 and "has-error" in page and "Not a valid integer" in page
    good = it.post(f"/plugins/sample/settings/{ids['A']}", data={"greeting": "你好", "max_notes": "5"})
    assert good.status_code == 302
    from core.plugin_settings import settings_for

    with app.app_context():
        assert settings_for(app.extensions["crm_plugins"], "sample", ids["A"]) == {"greeting": "你好", "max_notes": 5}
    assert it.get(f"/plugins/sample/settings/{ids['B']}").status_code == 404


def test_a_misspelled_hook_is_refused():
    bad = types.ModuleType("bad_plugin")
    bad.NAME = "bad"

    @hookimpl
    def crm_modelz():
        return []

    bad.crm_modelz = crm_modelz
    import sys

    sys.modules["bad_plugin"] = bad
    with pytest.raises(pluggy.PluginValidationError):
        PluginRegistry({"CRM_EXTRA_PLUGINS": ["bad_plugin"], "CRM_LOAD_ENTRYPOINTS": False})


def test_a_plugin_with_a_missing_dependency_is_refused():
    import sys

    needy = types.ModuleType("needy_plugin")
    needy.NAME, needy.DEPENDS = "needy", ("nonexistent",)
    sys.modules["needy_plugin"] = needy
    with pytest.raises(PluginError, match="needy needs nonexistent"):
        PluginRegistry({"CRM_EXTRA_PLUGINS": ["needy_plugin"], "CRM_LOAD_ENTRYPOINTS": False})


def test_a_plugin_is_inactive_where_its_dependency_is_inactive(app, ids):
    import sys

    child = types.ModuleType("child_plugin")
    child.NAME, child.DEPENDS = "child", ("sample",)
    sys.modules["child_plugin"] = child
    with app.app_context():
        registry = app.extensions["crm_plugins"]
        registry.register(child)
        set_activation("child", enabled=True)
        db.session.commit()
        assert registry.active_franchises("child") == registry.active_franchises("sample") == {ids["A"]}
