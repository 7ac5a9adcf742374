"""Franchise IT manages the users of its own franchises, and only those, without handing out HQ powers."""

from sqlalchemy import select

from core.extensions import db
from flask_appbuilder.security.sqla.models import User
from tests.conftest import login


def role_id(app, name):
    with app.app_context():
        return app.appbuilder.sm.find_role(name).id


def user(app, username):
    with app.app_context():
        found = db.session.scalar(select(User).where(User.username == username))
        return found and (found.username, sorted(f.code for f in found.franchises), [r.name for r in found.roles])


def new_user_form(app, username, franchise_ids, role="Frontline Agent"):
    return {"username": username, "first_name": "New", "last_name": "Agent", "email": f"{username}@test.invalid",
            "active": "y", "roles": [str(role_id(app, role))], "franchises": [str(i) for i in franchise_ids],
            "password": "long-password-1", "conf_password": "long-password-1"}


def test_franchise_it_creates_an_agent_of_its_franchise_who_can_log_in(app, client_for, ids):
    it = client_for("ait")
    response = it.post("/franchiseuserview/add", data=new_user_form(app, "newagent", [ids["A"]]))
    assert response.status_code == 302
    assert user(app, "newagent") == ("newagent", ["A"], ["Frontline Agent"])
    login(app.test_client(), "newagent", "long-password-1")


def test_franchise_it_sees_only_users_of_its_franchises(client_for):
    page = client_for("ait").get("/franchiseuserview/list/").get_data(as_text=True)
    assert "alice" in page and "bob" not in page and ">hq<" not in page
    everyone = client_for("hq").get("/franchiseuserview/list/?psize_FranchiseUserView=100").get_data(as_text=True)
    assert "alice" in everyone and "bob" in everyone


def test_franchise_it_cannot_assign_another_franchise_or_an_hq_role(app, client_for, ids):
    it = client_for("ait")
    form = it.get("/franchiseuserview/add").get_data(as_text=True)
    assert "Franchise B" not in form and ">Admin<" not in form
    it.post("/franchiseuserview/add", data=new_user_form(app, "intruder", [ids["B"]]))
    it.post("/franchiseuserview/add", data=new_user_form(app, "boss", [ids["A"]], role="Admin"))
    assert user(app, "intruder") is None and user(app, "boss") is None


def test_editing_keeps_assignments_to_franchises_the_admin_cannot_see(app, client_for, ids):
    with app.app_context():
        from core.tenancy import Franchise

        shared = db.session.scalar(select(User).where(User.username == "newagent"))
        shared.franchises.append(db.session.get(Franchise, ids["B"]))
        db.session.commit()
        pk = shared.id
    it = client_for("ait")
    assert it.get(f"/franchiseuserview/edit/{pk}").status_code == 200
    it.post(f"/franchiseuserview/edit/{pk}", data={"first_name": "Renamed", "last_name": "Agent",
                                                    "email": "newagent@test.invalid", "active": "y",
                                                    "roles": [str(role_id(app, "Frontline Agent"))],
                                                    "franchises": [str(ids["A"])]})
    assert user(app, "newagent") == ("newagent", ["A", "B"], ["Frontline Agent"])
    with app.app_context():
        assert db.session.scalar(select(User.first_name).where(User.username == "newagent")) == "Renamed"


def test_franchise_it_cannot_open_users_of_other_franchises(app, client_for):
    with app.app_context():
        bob = db.session.scalar(select(User.id).where(User.username == "bob"))
    assert client_for("ait").get(f"/franchiseuserview/edit/{bob}").status_code == 404
    assert client_for("ait").get(f"/franchiseuserview/show/{bob}").status_code == 404
