"""Tier policies in the screen and the API: a wrong policy is refused naming the field and the policy in force
stays; a preview shows how many customers would move before anything is saved."""

from __future__ import annotations

import pytest
from flask_babel import force_locale
from sqlalchemy import delete, select

from core.extensions import db
from core.jobs import JobOutbox
from plugins.tiering.models import CustomerValue, TierPolicy, TierServiceLevel
from plugins.tiering.policy import check_policy, save_policy
from plugins.tiering.recompute import recompute
from tests.conftest import add_user
from tests.plugins.tiering.conftest import make_customer, make_shipment

GOOD = {"measure": "volume", "method": "threshold", "window_days": 30, "a_cut": 10, "b_cut": 3,
        "rfm_window_days": 365}


@pytest.fixture(autouse=True)
def no_policies(app):
    with app.app_context():
        db.session.execute(delete(TierServiceLevel))  # SQLite does not cascade a bulk delete
        db.session.execute(delete(TierPolicy))
        db.session.execute(delete(JobOutbox))
        db.session.commit()


@pytest.mark.parametrize("change, field, words", [
    ({"a_cut": 3, "b_cut": 10}, "b_cut", "inverted"),
    ({"a_cut": 5, "b_cut": 5}, "b_cut", "overlap"),
    ({"method": "pareto", "a_cut": 95, "b_cut": 80}, "b_cut", "increase"),
    ({"method": "pareto", "a_cut": 80, "b_cut": 101}, "b_cut", "100%"),
    ({"method": "pareto", "a_cut": 120, "b_cut": 130}, "a_cut", "100%"),
    ({"window_days": 0}, "window_days", "at least 1 day"),
    ({"window_days": "ninety"}, "window_days", "whole number"),
    ({"rfm_window_days": 0}, "rfm_window_days", "at least 1 day"),
    ({"a_cut": -1}, "a_cut", "greater than 0"),
    ({"measure": "weight"}, "measure", "not one of"),
    ({"levels": {"A": {"ticket_priority": "asap"}}}, "levels.A.ticket_priority", "not one of"),
    ({"levels": {"D": {}}}, "levels", "unknown tier"),
])
def test_a_wrong_policy_is_refused_naming_the_field(app, change, field, words):
    with app.test_request_context(), force_locale("en"):
        cleaned, errors = check_policy({**GOOD, **change})
        assert cleaned is None and words in errors[field], errors


def test_a_refused_save_leaves_the_policy_in_force(app, ids):
    with app.app_context():
        policy, errors = save_policy(ids["A"], GOOD)
        db.session.commit()
        assert not errors
        policy, errors = save_policy(ids["A"], {**GOOD, "a_cut": 2, "b_cut": 8})
        db.session.rollback()
        assert policy is None and "b_cut" in errors
        stored = db.session.scalar(select(TierPolicy).where(TierPolicy.franchise_id == ids["A"]))
        assert (float(stored.a_cut), float(stored.b_cut)) == (10, 3)


def test_the_api_refuses_bad_input_with_422_and_saves_good_input(app, ids, api_headers):
    client = app.test_client()
    headers = api_headers("ait")
    bad = client.put(f"/api/v1/tiering/policy/{ids['A']}", headers=headers,
                     json={**GOOD, "method": "pareto", "a_cut": 90, "b_cut": 60})
    assert bad.status_code == 422 and "b_cut" in bad.json["message"]
    with app.app_context():
        assert db.session.scalar(select(TierPolicy.id).where(TierPolicy.franchise_id == ids["A"])) is None
    good = client.put(f"/api/v1/tiering/policy/{ids['A']}", headers=headers,
                      json={**GOOD, "levels": {"A": {"callback_days": 7, "dedicated_manager": True}}})
    assert good.status_code == 200, good.json
    assert good.json["result"]["levels"]["A"] == {"callback_days": 7, "dedicated_manager": True,
                                                  "ticket_priority": None, "sla_policy_name": None}
    with app.app_context():
        queued = db.session.scalars(select(JobOutbox).where(JobOutbox.func.like("plugins.tiering.jobs:%"))).all()
        assert [job.franchise_id for job in queued] == [ids["A"]]
    shown = client.get(f"/api/v1/tiering/policy/{ids['A']}", headers=headers)
    assert shown.json["result"]["a_cut"] == 10 and shown.json["result"]["own"] is True


def test_franchise_it_cannot_change_hq_or_another_franchise(app, ids, api_headers):
    client = app.test_client()
    headers = api_headers("ait")
    assert client.put("/api/v1/tiering/policy/hq", headers=headers, json=GOOD).status_code == 403
    assert client.put(f"/api/v1/tiering/policy/{ids['B']}", headers=headers, json=GOOD).status_code == 404
    assert client.get(f"/api/v1/tiering/policy/{ids['B']}", headers=headers).status_code == 404
    assert client.put("/api/v1/tiering/policy/hq", headers=api_headers("hq"), json=GOOD).status_code == 200


def test_the_api_dry_run_counts_moves_without_saving(app, ids, api_headers):
    with app.app_context():
        save_policy(ids["A"], GOOD)
        customer = make_customer(ids["A"], name="五件客户")
        for _ in range(5):
            make_shipment(ids["A"], customer, fee=10)
        db.session.commit()
        recompute(ids["A"])
        assert db.session.get(CustomerValue, customer.id).tier == "B"
    client = app.test_client()
    response = client.post(f"/api/v1/tiering/policy/{ids['A']}/dry-run", headers=api_headers("ait"),
                           json={**GOOD, "a_cut": 4, "b_cut": 2})
    assert response.status_code == 200, response.json
    assert response.json["movement"]["B"]["A"] >= 1 and response.json["moved"] >= 1
    with app.app_context():
        assert db.session.get(CustomerValue, customer.id).tier == "B"
        assert float(db.session.scalar(select(TierPolicy.a_cut).where(TierPolicy.franchise_id == ids["A"]))) == 10


def test_the_screen_previews_then_saves_and_shows_messages_at_the_fields(app, ids, client_for):
    client = client_for("ait")
    client.get("/lang/en")
    form = {"franchise": ids["A"], **{k: str(v) for k, v in GOOD.items()}}
    page = client.get(f"/tiering/policy/?franchise={ids['A']}")
    assert page.status_code == 200 and b"Preview movement" in page.data
    refused = client.post("/tiering/policy/", data={**form, "a_cut": "2", "b_cut": "8", "action": "save"})
    assert refused.status_code == 400
    assert b'data-field="b_cut"' in refused.data and b"inverted" in refused.data
    preview = client.post("/tiering/policy/", data={**form, "action": "preview"})
    assert preview.status_code == 200 and b"movement between tiers" in preview.data
    with app.app_context():
        assert db.session.scalar(select(TierPolicy.id).where(TierPolicy.franchise_id == ids["A"])) is None
    saved = client.post("/tiering/policy/", data={**form, "action": "save"})
    assert saved.status_code == 302
    with app.app_context():
        assert db.session.scalar(select(TierPolicy.method).where(TierPolicy.franchise_id == ids["A"])) == "threshold"


def test_an_agent_may_not_edit_policies(app, ids, client_for):
    with app.app_context():
        add_user(app, "tier_agent", "Frontline Agent", franchises=[])
    client = client_for("alice")
    response = client.post("/tiering/policy/", data={"franchise": ids["A"], "action": "save", **GOOD})
    assert response.status_code in (302, 403)
    with app.app_context():
        assert db.session.scalar(select(TierPolicy.id)) is None
