"""Edge cases of tenancy, custom fields, users, audit and jobs that a review found and that now hold."""

import pytest
from flask_appbuilder.security.sqla.models import User
from sqlalchemy import select

from core.audit import AuditLog
from core.extensions import db
from core.jobs import JobOutbox, JobSchedule, enqueue, execute
from core.lowcode.models import CustomFieldDefinition
from core.plugins import set_activation
from core.tenancy import Franchise
from tests.plugins.sample import SampleNote, SampleRecord, record_tick


@pytest.fixture(scope="module", autouse=True)
def network(app):
    with app.app_context():
        ids = app.config["TEST_IDS"]
        # franchise C in region R1: r1boss (region manager of R1) now works in A and C
        c = Franchise(code="C", name="Franchise C", region_id=ids["R1"])
        db.session.add(c)
        db.session.flush()
        ids["C"] = c.id
        set_activation("sample", enabled=True)
        db.session.add_all([SampleNote(title="rf-A", franchise_id=ids["A"]),
                            SampleNote(title="rf-B", franchise_id=ids["B"])])
        db.session.commit()


def add_field(app, **values):
    with app.app_context():
        definition = CustomFieldDefinition(label_zh=values["key"], label_en=values["key"], field_type="text",
                                           order=10, active=True, **values)
        db.session.add(definition)
        db.session.commit()
        return definition.id


def deactivate(app, field_id):
    with app.app_context():
        db.session.get(CustomFieldDefinition, field_id).active = False
        db.session.commit()


def titles(app):
    with app.app_context():
        return set(db.session.scalars(select(SampleNote.title)))


# --- custom fields ------------------------------------------------------------------------------------


def test_multi_franchise_user_can_add_a_row_in_c_when_a_has_a_required_field(app, client_for, ids):
    """A required field of franchise A must not block (or be demanded for) rows of franchise C on screens."""
    field = add_field(app, entity="test_sample_note", key="a_only", required=True, franchise_id=ids["A"])
    try:
        boss = client_for("r1boss")  # region manager of R1: franchises A and C
        boss.post("/samplenoteview/add", data={"title": "in-C-plain", "franchise": str(ids["C"])})
        boss.post("/samplenoteview/add", data={"title": "in-C-filled", "franchise": str(ids["C"]),
                                               "cf_a_only": "x"})
        assert titles(app) & {"in-C-plain", "in-C-filled"}, "no way to create a C row through the screen"
    finally:
        deactivate(app, field)


def test_hq_can_edit_franchise_b_when_a_has_a_required_franchise_field(app, api_headers, ids):
    """A franchise-scoped field on Franchise applies to that franchise only, not to every franchise HQ edits."""
    field = add_field(app, entity="crm_franchise", key="a_licence", required=True, franchise_id=ids["A"])
    try:
        response = app.test_client().put(f"/api/v1/franchise/{ids['B']}", json={"name": "Franchise B"},
                                         headers=api_headers("hq"))
        assert response.status_code == 200, response.json
    finally:
        deactivate(app, field)


def test_field_made_required_while_a_layout_hides_it_stays_in_the_form(app, client_for):
    """Making a field required must either be refused or show it in forms even if a layout hides it."""
    field = add_field(app, entity="test_sample_note", key="later", required=False)
    hq = client_for("hq")
    try:
        hq.post("/formlayoutview/add", data={"entity": "test_sample_note", "hidden": "cf_later"})
        hq.post(f"/customfieldview/edit/{field}", data={"label_zh": "later", "label_en": "later", "required": "y",
                                                         "order": "10", "active": "y"})
        with app.app_context():
            required = db.session.get(CustomFieldDefinition, field).required
        form = client_for("alice").get("/samplenoteview/add").get_data(as_text=True)
        assert not required or 'name="cf_later"' in form, "required field hidden: nobody can add a row"
    finally:
        deactivate(app, field)


# --- franchise IT and users ----------------------------------------------------------------------------


def test_franchise_it_cannot_change_roles_of_a_user_who_also_works_in_b(app, client_for, ids):
    """Franchise IT of A must not grant powers that apply in franchise B (roles of a user shared with B)."""
    sm = app.appbuilder.sm
    with app.app_context():
        shared = sm.add_user("shared", "Shared", "User", "shared@test.invalid", sm.find_role("Frontline Agent"),
                             "secret-pass-1")
        shared.franchises = [db.session.get(Franchise, ids["A"]), db.session.get(Franchise, ids["B"])]
        db.session.commit()
        pk, it_role = shared.id, sm.find_role("Franchise IT").id
    client_for("ait").post(f"/franchiseuserview/edit/{pk}", data={
        "first_name": "Shared", "last_name": "User", "email": "shared@test.invalid", "active": "y",
        "roles": [str(it_role)], "franchises": [str(ids["A"])]})
    with app.app_context():
        roles = [r.name for r in db.session.get(User, pk).roles]
    assert roles == ["Frontline Agent"], f"A's IT made a B user {roles}: B's users and plugins are now theirs"


def test_franchise_it_user_list_does_not_show_franchise_b(app, client_for, ids):
    """The users screen of A's IT must not list franchise B (a row of B) in a shared user's franchises."""
    sm = app.appbuilder.sm
    with app.app_context():
        if sm.find_user(username="shared2") is None:
            user = sm.add_user("shared2", "Shared", "Two", "shared2@test.invalid", sm.find_role("Frontline Agent"),
                               "secret-pass-1")
            user.franchises = [db.session.get(Franchise, ids["A"]), db.session.get(Franchise, ids["B"])]
            db.session.commit()
    page = client_for("ait").get("/franchiseuserview/list/").get_data(as_text=True)
    assert "shared2" in page
    assert "Franchise B" not in page


# --- jobs ----------------------------------------------------------------------------------------------


def test_franchise_it_does_not_see_job_errors_of_other_franchises(app, client_for, ids):
    """Schedules are shared rows: a failed run of franchise B must not show its error to A's franchise IT."""
    with app.app_context():
        schedule = JobSchedule(name="sample.review_fail", plugin="sample", interval=3600, failures=0)
        db.session.add(schedule)
        db.session.flush()
        job = JobOutbox(func="tests.plugins.sample:fail_always", args=[], kwargs={}, franchise_id=ids["B"],
                        schedule_id=schedule.id, attempts=5, status="relayed")
        db.session.add(job)
        db.session.commit()
        schedule_id, job_id = schedule.id, job.id
        with pytest.raises(RuntimeError):
            execute(job_id)
    page = client_for("ait").get(f"/jobscheduleview/show/{schedule_id}").get_data(as_text=True)
    assert "sample job exploded" not in page and "fail_always" not in page


def test_savepoint_rollback_keeps_jobs_of_the_outer_transaction(app, ids):
    """Rolling back a savepoint must not drop the after-commit delivery of jobs enqueued outside it."""
    with app.app_context():
        job = enqueue(record_tick, 4242, franchise_id=ids["A"])
        db.session.flush()
        savepoint = db.session.begin_nested()
        db.session.add(SampleRecord(franchise_id=ids["A"], kind="scratch"))
        savepoint.rollback()
        db.session.commit()
        job_id = job.id
    with app.app_context():
        assert db.session.get(JobOutbox, job_id).status == "finished"
        assert 4242 in db.session.scalars(select(SampleRecord.franchise_id).where(SampleRecord.kind == "tick")).all()


# --- audit ---------------------------------------------------------------------------------------------


def test_audit_log_cannot_be_deleted_in_bulk(app):
    """The audit log is append-only: a bulk DELETE through the ORM must be refused like a row delete."""
    with app.app_context():
        before = db.session.query(AuditLog).count()
        try:
            db.session.query(AuditLog).filter(AuditLog.id <= 2).delete()
            db.session.commit()
        except Exception:
            db.session.rollback()
        assert db.session.query(AuditLog).count() == before


def test_bulk_update_of_an_audited_model_is_audited_or_refused(app, ids):
    """Changes of audited rows must reach the audit log whatever the path: a bulk UPDATE leaves no trace."""
    with app.app_context():
        before = db.session.query(AuditLog).filter(AuditLog.model == "SampleNote").count()
        changed = db.session.query(SampleNote).filter(SampleNote.title == "rf-B").update({"title": "rf-B-bulk"})
        db.session.commit()
        after = db.session.query(AuditLog).filter(AuditLog.model == "SampleNote").count()
    assert changed == 0 or after > before


def test_api_cannot_point_a_row_at_a_row_of_another_franchise(app, api_headers):
    """A REST body can name any id; a reference to a row the writer cannot see is refused like a missing one."""
    with app.app_context():
        ids = app.config["TEST_IDS"]
        theirs, mine = SampleNote(title="ref-B", franchise_id=ids["B"]), SampleNote(title="ref-A", franchise_id=ids["A"])
        db.session.add_all([theirs, mine])
        db.session.commit()
        theirs, mine = theirs.id, mine.id
    client = app.test_client()
    refused = client.post("/api/v1/sample_note/", json={"title": "child", "parent": theirs},
                          headers=api_headers("alice"))
    assert refused.status_code == 422 and "parent" in refused.json["message"]
    accepted = client.post("/api/v1/sample_note/", json={"title": "child", "parent": mine},
                           headers=api_headers("alice"))
    assert accepted.status_code == 201, accepted.json


def test_a_job_delivered_twice_runs_once(app, ids):
    """At-least-once delivery: the second delivery of a job finds it claimed or finished and does nothing."""
    with app.app_context():
        job = JobOutbox(func="tests.plugins.sample:record_tick", args=[ids["A"]], kwargs={}, franchise_id=ids["A"])
        db.session.add(job)
        db.session.flush()
        job_id = job.id
        db.session.execute(JobOutbox.__table__.update().where(JobOutbox.id == job_id).values(status="relayed"))
        db.session.commit()
        before = db.session.query(SampleRecord).filter_by(kind="tick").count()
        execute(job_id)
        execute(job_id)
        assert db.session.query(SampleRecord).filter_by(kind="tick").count() == before + 1
        assert db.session.get(JobOutbox, job_id).attempts == 1


def test_the_database_itself_refuses_to_change_the_audit_log(app):
    """Even SQL that bypasses the ORM cannot delete or rewrite audit entries (a trigger refuses)."""
    from sqlalchemy import text

    with app.app_context():
        db.session.add(AuditLog(action="create", model="X", record_id="1"))
        db.session.commit()
        for statement in ("DELETE FROM crm_audit_log", "UPDATE crm_audit_log SET reason = 'x'"):
            with pytest.raises(Exception, match="append-only"):
                db.session.execute(text(statement))
            db.session.rollback()
        assert db.session.query(AuditLog).count() > 0
