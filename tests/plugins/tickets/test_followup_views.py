"""Callback screens: the agent's own open callbacks first in due order, the call form, and the rules screen."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask_appbuilder.security.sqla.models import User
from sqlalchemy import select

from core.clock import utcnow
from core.extensions import db
from core.tenancy import EVERYTHING, scope_as
from plugins.tickets.followup.models import CallbackRule, CallbackTask
from tests.plugins.tickets.conftest import make_ticket


def english(client):
    client.get("/lang/en")
    return client


@pytest.fixture(scope="module")
def callbacks(app):
    """Three callbacks of franchise A: a colleague's due first, alice's due later, alice's finished one."""
    ids = app.config["TEST_IDS"]
    with app.app_context(), scope_as(EVERYTHING):
        alice = db.session.scalars(select(User.id).where(User.username == "alice")).one()
        now = utcnow()
        rows = {}
        for name, assignee, due, status in (("colleague", None, now - timedelta(hours=5), "open"),
                                            ("mine", alice, now + timedelta(hours=3), "open"),
                                            ("mine_done", alice, now - timedelta(hours=9), "done")):
            ticket = make_ticket(ids["A"], subject=f"回访 {name}", status="closed", is_open=False)
            task = CallbackTask(franchise_id=ids["A"], ticket=ticket, assignee_id=assignee, due_at=due, status=status)
            db.session.add(task)
            db.session.flush()
            rows[name] = (task.id, ticket.number)
        other = make_ticket(ids["B"], subject="B 的回访", status="closed", is_open=False)
        db.session.add(CallbackTask(franchise_id=ids["B"], ticket=other, due_at=now, status="open"))
        db.session.flush()
        rows["other"] = (None, other.number)
        db.session.commit()
        return rows


def test_an_agent_sees_her_open_callbacks_first_then_the_rest_by_due_time(app, callbacks, client_for):
    page = english(client_for("alice")).get("/tickets/callbacks/list/").get_data(as_text=True)
    positions = [page.find(callbacks[name][1]) for name in ("mine", "colleague", "mine_done")]
    assert -1 not in positions and positions == sorted(positions)
    assert callbacks["other"][1] not in page  # franchise B's callbacks are not hers to see


def test_recording_a_call_from_the_form_ends_the_callback(app, callbacks, client_for):
    client = english(client_for("alice"))
    task_id = callbacks["mine"][0]
    refused = client.post(f"/tickets/callbacks/attempt/{task_id}", data={"outcome": "shouted"})
    assert refused.status_code == 422 and b"outcome: not one of" in refused.data
    done = client.post(f"/tickets/callbacks/attempt/{task_id}", data={"outcome": "neutral", "note": "一般"})
    assert done.status_code == 302
    with app.app_context():
        task = db.session.get(CallbackTask, task_id)
        assert (task.status, task.outcome, task.attempts, task.note) == ("done", "neutral", 1, "一般")
    assert english(client_for("bob")).get(f"/tickets/callbacks/attempt/{task_id}").status_code == 404


def test_franchise_it_writes_callback_rules_and_a_bad_delay_is_refused(app, client_for):
    ids = app.config["TEST_IDS"]
    client = english(client_for("ait"))
    response = client.post("/tickets/callback-rules/add", data={
        "name": "理赔回访", "active": "y", "types": ["claim"], "resolution_codes": ["compensated"], "delay_hours": "48",
        "franchise": ids["A"]})
    assert response.status_code == 302
    refused = client.post("/tickets/callback-rules/add", data={
        "name": "太晚", "active": "y", "delay_hours": "-3", "franchise": ids["A"]}, follow_redirects=True)
    assert "between 0 and 1440 hours" in refused.get_data(as_text=True)
    with app.app_context():
        rule = db.session.scalars(select(CallbackRule).where(CallbackRule.name == "理赔回访")).one()
        assert (rule.types, rule.categories, rule.resolution_codes, rule.delay_hours) == (
            ["claim"], None, ["compensated"], 48)
        assert db.session.scalars(select(CallbackRule).where(CallbackRule.name == "太晚")).first() is None
    # agents work callbacks; they do not write the rules
    agent = english(client_for("alice"))
    agent.post("/tickets/callback-rules/add", data={"name": "偷偷加的", "delay_hours": "1", "franchise": ids["A"]})
    with app.app_context():
        assert db.session.scalars(select(CallbackRule).where(CallbackRule.name == "偷偷加的")).first() is None
