"""Routing screens: franchise IT sets up teams, members and dispatch rules (with clear refusals), an edited rule
routes the next ticket, and an agent marks themselves away or back from "My availability"."""

from __future__ import annotations

import itertools

import pytest
from flask_appbuilder.security.sqla.models import User
from flask_babel import force_locale, gettext
from markupsafe import escape
from sqlalchemy import delete, select

from core.extensions import db
from core.tenancy import EVERYTHING, scope_as
from plugins.tickets.models import Ticket
from plugins.tickets.routing.dispatch import route
from plugins.tickets.routing.models import DispatchRule, Team, TeamMember
from tests.plugins.tickets.conftest import make_ticket

_serial = itertools.count(1)


def user_id(name):
    return db.session.scalar(select(User.id).where(User.username == name))


@pytest.fixture
def people(app):
    with app.app_context():
        return {name: user_id(name) for name in ("alice", "bob", "ait", "hq")}


def english(client):
    client.get("/lang/en")
    return client


def make_team(app, franchise_id, members=(), **values):
    with app.app_context(), scope_as(EVERYTHING):
        team = Team(franchise_id=franchise_id, name=f"理赔组{next(_serial)}", **values)
        db.session.add(team)
        db.session.flush()
        for member in members:
            db.session.add(TeamMember(franchise_id=franchise_id, team=team, user_id=user_id(member)))
        db.session.commit()
        return team.id


def test_franchise_it_creates_a_team_and_adds_an_agent_of_its_franchise(app, ids, people, client_for):
    client = english(client_for("ait"))
    assert client.get("/tickets/teams/add").status_code == 200
    name = f"投诉组{next(_serial)}"
    response = client.post("/tickets/teams/add", data={
        "name": name, "lead": people["alice"], "assignment": "least_busy", "max_open_per_agent": "15",
        "active": "y", "franchise": ids["A"]})
    assert response.status_code == 302
    with app.app_context():
        team = db.session.scalar(select(Team).where(Team.name == name))
        assert (team.franchise_id, team.lead_id, team.assignment, team.max_open_per_agent) == (
            ids["A"], people["alice"], "least_busy", 15)
        team_id = team.id

    page = client.get(f"/tickets/team-members/add?_flt_0_team={team_id}").get_data(as_text=True)
    assert "alice" in page and "bob" not in page  # the dropdown offers the team's franchise's users only
    response = client.post(f"/tickets/team-members/add?_flt_0_team={team_id}",
                           data={"team": team_id, "user": people["alice"], "max_open": "5", "active": "y"})
    assert response.status_code == 302
    with app.app_context():
        member = db.session.scalar(select(TeamMember).where(TeamMember.team_id == team_id))
        assert (member.user_id, member.franchise_id, member.max_open, member.away) == (
            people["alice"], ids["A"], 5, False)
    shown = client.get(f"/tickets/teams/show/{team_id}").get_data(as_text=True)
    assert "alice" in shown  # members listed on the team's page


def test_a_user_of_another_franchise_cannot_join_a_team(app, ids, people, client_for):
    team_id = make_team(app, ids["A"])
    hq = english(client_for("hq"))  # HQ's dropdown lists every user: the row's own check refuses
    response = hq.post("/tickets/team-members/add", data={"team": team_id, "user": people["bob"], "active": "y"},
                       follow_redirects=True)
    with app.test_request_context(), force_locale("en"):
        bob = db.session.get(User, people["bob"])
        message = escape(gettext("%(user)s is not a user of the team's franchise", user=bob))
    assert message in response.get_data(as_text=True)
    ait = english(client_for("ait"))
    response = ait.post("/tickets/team-members/add", data={"team": team_id, "user": people["bob"], "active": "y"})
    assert response.status_code == 200  # the form again: bob is not among the choices
    with app.app_context():
        assert db.session.scalar(select(TeamMember).where(TeamMember.team_id == team_id)) is None


def rule_form(team_id, franchise_id, **values):
    data = {"name": f"规则{next(_serial)}", "position": "10", "active": "y", "team": team_id,
            "franchise": franchise_id, "set_priority": ""}
    data.update(values)
    return data


def test_dispatch_rules_take_choice_lists_tiers_and_district_prefixes(app, ids, client_for):
    team_id = make_team(app, ids["A"])
    client = english(client_for("ait"))
    assert client.get("/tickets/dispatch-rules/add").status_code == 200
    data = rule_form(team_id, ids["A"], types=["complaint", "claim"], channels=["wechat"], tiers="A，B",
                     district_prefixes="33, 3301", set_priority="urgent")
    assert client.post("/tickets/dispatch-rules/add", data=data).status_code == 302
    with app.app_context():
        row = db.session.scalar(select(DispatchRule).where(DispatchRule.name == data["name"]))
        assert (row.types, row.categories, row.channels, row.tiers, row.district_prefixes, row.set_priority) == (
            ["complaint", "claim"], None, ["wechat"], ["A", "B"], ["33", "3301"], "urgent")
        rule_id = row.id
    edit_page = client.get(f"/tickets/dispatch-rules/edit/{rule_id}").get_data(as_text=True)
    assert 'value="33, 3301"' in edit_page

    bad = rule_form(team_id, ids["A"], district_prefixes="33, 330x, 123")
    response = client.post("/tickets/dispatch-rules/add", data=bad, follow_redirects=True)
    text = response.get_data(as_text=True)
    assert "330x, 123" in text and gettext("Districts") in text
    with app.app_context():
        assert db.session.scalar(select(DispatchRule).where(DispatchRule.name == bad["name"])) is None
        db.session.execute(delete(DispatchRule).where(DispatchRule.id == rule_id))
        db.session.commit()


def new_routed_ticket(app, franchise_id, **values):
    with app.app_context(), scope_as(EVERYTHING):
        ticket = make_ticket(franchise_id, **values)
        route(ticket)
        db.session.commit()
        return ticket.team_id, ticket.assignee_id


def test_a_rule_edited_on_screen_routes_the_next_ticket(app, ids, client_for):
    first, second = make_team(app, ids["A"]), make_team(app, ids["A"])
    client = english(client_for("ait"))
    data = rule_form(first, ids["A"], position="1", types=["address_change"])
    client.post("/tickets/dispatch-rules/add", data=data)
    assert new_routed_ticket(app, ids["A"], type="address_change")[0] == first
    with app.app_context():
        rule_id = db.session.scalar(select(DispatchRule.id).where(DispatchRule.name == data["name"]))
    response = client.post(f"/tickets/dispatch-rules/edit/{rule_id}", data={**data, "team": second})
    assert response.status_code == 302
    assert new_routed_ticket(app, ids["A"], type="address_change")[0] == second
    client.post("/tickets/dispatch-rules/delete/%d" % rule_id)
    assert new_routed_ticket(app, ids["A"], type="address_change")[0] is None


def test_an_agent_lists_teams_but_cannot_change_them_or_the_rules(app, client_for):
    client = client_for("alice")
    assert client.get("/tickets/teams/list/").status_code == 200
    assert client.get("/tickets/teams/add").status_code != 200
    assert client.get("/tickets/dispatch-rules/list/").status_code != 200


def test_an_agent_marks_themselves_away_and_back_and_gets_the_backlog(app, ids, people, client_for):
    team_id = make_team(app, ids["A"], members=["alice"])
    client = english(client_for("alice"))
    page = client.get("/tickets/my-availability/").get_data(as_text=True)
    assert gettext("Mark me away") in page
    response = client.post("/tickets/my-availability/change", data={"franchise_id": ids["A"], "away": "1"})
    assert response.status_code == 302
    with app.app_context():
        assert db.session.scalar(select(TeamMember.away).where(TeamMember.team_id == team_id)) is True
        with scope_as(EVERYTHING):
            waiting = make_ticket(ids["A"], team_id=team_id)
            db.session.commit()
            waiting_id = waiting.id
    assert gettext("I am back") in client.get("/tickets/my-availability/").get_data(as_text=True)
    response = client.post("/tickets/my-availability/change", data={"franchise_id": ids["A"], "away": "0"},
                           follow_redirects=True)
    assert escape(gettext("Welcome back. %(count)d ticket(s) of the teams' backlog were assigned.", count=1)) in \
        response.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Ticket, waiting_id).assignee_id == people["alice"]
        assert db.session.scalar(select(TeamMember.away).where(TeamMember.team_id == team_id)) is False
    # nobody changes another franchise's availability
    bob = client_for("bob")
    assert bob.post("/tickets/my-availability/change", data={"franchise_id": ids["A"], "away": "1"}).status_code == 404


def test_a_team_with_tickets_is_retired_by_deactivating_not_deleted(app, ids, client_for):
    team_id = make_team(app, ids["A"])
    with app.app_context(), scope_as(EVERYTHING):
        make_ticket(ids["A"], team_id=team_id)
        db.session.commit()
    client = english(client_for("ait"))
    response = client.post(f"/tickets/teams/delete/{team_id}", follow_redirects=True)
    with app.app_context():
        name = db.session.get(Team, team_id).name
        assert db.session.get(Team, team_id) is not None
    assert escape(gettext("Team %(team)s has tickets or escalation policies: make it inactive instead.",
                          team=name)) in response.get_data(as_text=True)
