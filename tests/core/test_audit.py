"""Every change to audited rows and to configuration is in the append-only audit log, field by field."""

import pytest
from sqlalchemy import select

from core.audit import AuditLog, AuditLogIsAppendOnly
from core.extensions import db
from core.plugins import set_activation
from tests.plugins.sample import SampleNote


@pytest.fixture(scope="module", autouse=True)
def active(app):
    with app.app_context():
        set_activation("sample", enabled=True)
        db.session.commit()


def entries(app, model, record_id=None):
    with app.app_context():
        query = select(AuditLog).where(AuditLog.model == model).order_by(AuditLog.id)
        if record_id is not None:
            query = query.where(AuditLog.record_id == str(record_id))
        return db.session.scalars(query).all()


def test_create_update_delete_are_recorded_with_user_franchise_and_fields(app, client_for, ids):
    alice = client_for("alice")
    alice.post("/samplenoteview/add", data={"title": "audited", "franchise": ids["A"]})
    with app.app_context():
        pk = db.session.scalar(select(SampleNote.id).where(SampleNote.title == "audited"))
    alice.post(f"/samplenoteview/edit/{pk}", data={"title": "audited-2", "franchise": ids["A"]})
    alice.post(f"/samplenoteview/delete/{pk}")
    log = entries(app, "SampleNote", pk)
    assert [e.action for e in log] == ["create", "update", "delete"]
    assert all(e.username == "alice" and e.franchise_id == ids["A"] and e.at is not None for e in log)
    assert log[0].changes["title"] == [None, "audited"]
    assert log[1].changes == {"title": ["audited", "audited-2"]}
    assert log[2].changes["title"] == ["audited-2", None]


def test_configuration_changes_are_audited(app, client_for, ids):
    it = client_for("ait")
    it.post("/plugins/set", data={"plugin": "sample", "level": "franchise", "target": ids["A"], "value": "on"})
    activation = entries(app, "PluginActivation")
    assert activation and activation[-1].action.startswith("config.") and activation[-1].username == "ait"
    assert activation[-1].changes["enabled"][1] is True
    hq = client_for("hq")
    hq.post("/customfieldview/add", data={"entity": "test_sample_note", "key": "audit_me", "label_zh": "审计",
                                          "label_en": "Audit", "field_type": "text", "order": "1", "active": "y"})
    assert entries(app, "CustomFieldDefinition")[-1].action == "config.create"
    with app.app_context():
        sm = app.appbuilder.sm
        role = sm.find_role("Frontline Agent")
        role.permissions = role.permissions[:-1]
        db.session.commit()
    role_entries = entries(app, "Role")
    assert role_entries and role_entries[-1].action == "config.update" and "permissions" in role_entries[-1].changes


def test_the_log_is_append_only(app):
    with app.app_context():
        entry = db.session.scalars(select(AuditLog)).first()
        entry.reason = "tampered"
        with pytest.raises(AuditLogIsAppendOnly):
            db.session.commit()
        db.session.rollback()
        db.session.delete(db.session.scalars(select(AuditLog)).first())
        with pytest.raises(AuditLogIsAppendOnly):
            db.session.commit()
        db.session.rollback()


def test_franchise_admins_see_only_their_franchises_entries(app, client_for, ids):
    with app.app_context():
        db.session.add(SampleNote(title="b-audited", franchise_id=ids["B"]))
        db.session.commit()
    page = client_for("ait").get("/auditlogview/list/?psize_AuditLogView=100").get_data(as_text=True)
    assert "SampleNote" in page
    with app.app_context():
        b_entry = db.session.scalars(select(AuditLog).where(AuditLog.franchise_id == ids["B"])).first()
    assert client_for("ait").get(f"/auditlogview/show/{b_entry.id}").status_code == 404
    assert client_for("hq").get(f"/auditlogview/show/{b_entry.id}").status_code == 200
    assert client_for("ait").post(f"/auditlogview/delete/{b_entry.id}").status_code in (302, 403, 404)
    with app.app_context():
        assert db.session.get(AuditLog, b_entry.id) is not None
