"""A small plugin used by the tests: one scoped model with custom fields, a screen, an API, an event hook,
a periodic job, a dashboard widget and a settings schema, everything a real plugin uses."""

from flask import jsonify
from flask_appbuilder import Model
from flask_appbuilder.actions import action
from marshmallow import Schema, fields, validate
from sqlalchemy import Column, ForeignKey, Integer, String, func, select
from sqlalchemy.orm import relationship

from core.dashboard import Widget
from core.extensions import db
from core.hookspecs import hookimpl
from core.jobs import PeriodicJob
from core.lowcode import CustomFieldsMixin
from core.tenancy import Franchise, ScopedInterface
from core.views import ScopedModelRestApi, ScopedModelView

NAME = "sample"
VERSION = "1.2.3"
LABEL = "Sample"


class SampleNote(CustomFieldsMixin, Model):
    __tablename__ = "test_sample_note"
    __audited__ = True
    id = Column(Integer, primary_key=True)
    franchise_id = Column(Integer, ForeignKey("crm_franchise.id"), nullable=False, index=True)
    franchise = relationship(Franchise)
    title = Column(String(200), nullable=False)
    # a reference to another scoped row: writes must not point across franchises
    parent_id = Column(Integer, ForeignKey("test_sample_note.id"), nullable=True)
    parent = relationship("SampleNote", remote_side=[id])

    def __repr__(self):
        return self.title


class SampleRecord(Model):
    """What the event hook and the periodic job did, per franchise."""

    __tablename__ = "test_sample_record"
    id = Column(Integer, primary_key=True)
    franchise_id = Column(Integer, nullable=False)
    kind = Column(String(32), nullable=False)
    detail = Column(String(200))


class SampleNoteView(ScopedModelView):
    datamodel = ScopedInterface(SampleNote)
    list_columns = ["title", "franchise"]
    add_columns = edit_columns = show_columns = ["title", "franchise"]
    search_columns = ["title", "franchise"]

    @action("touch", "Touch", None, "fa-hand-o-up")
    def touch(self, items):
        items = items if isinstance(items, list) else [items]
        return jsonify(touched=sorted(i.id for i in items))


class SampleNoteApi(ScopedModelRestApi):
    resource_name = "sample_note"
    datamodel = ScopedInterface(SampleNote)
    list_columns = ["id", "title", "franchise.id", "custom"]
    show_columns = ["id", "title", "franchise.id", "custom"]
    add_columns = ["title", "franchise", "parent", "custom"]
    edit_columns = ["title", "franchise", "parent", "custom"]
    search_columns = ["title", "franchise"]
    order_columns = ["id", "title"]


def record_tick(franchise_id):
    db.session.add(SampleRecord(franchise_id=franchise_id, kind="tick"))


def fail_always(franchise_id=None):
    raise RuntimeError("sample job exploded")


class SampleSettings(Schema):
    greeting = fields.String(required=True, validate=validate.Length(min=2, max=40),
                             metadata={"label": "Greeting"})
    max_notes = fields.Integer(load_default=10, validate=validate.Range(min=1, max=1000),
                               metadata={"label": "Max notes"})


@hookimpl
def crm_models():
    return [SampleNote, SampleRecord]


@hookimpl
def crm_views(appbuilder, category):
    appbuilder.add_view(SampleNoteView, "Sample notes", category=category)
    appbuilder.add_api(SampleNoteApi)


@hookimpl
def crm_permissions():
    perms = [(p, "SampleNoteView") for p in ("can_list", "can_show", "can_add", "can_edit", "can_delete",
                                              "can_export", "touch")]
    perms += [(p, "SampleNoteApi") for p in ("can_get", "can_info", "can_post", "can_put", "can_delete")]
    perms += [("menu_access", "Sample notes"), ("menu_access", LABEL)]
    return {"Frontline Agent": perms, "Franchise IT": perms}


@hookimpl
def crm_custom_field_targets():
    return [SampleNote]


@hookimpl
def crm_periodic_jobs():
    return [PeriodicJob("tick", record_tick, interval=3600)]


@hookimpl
def crm_dashboard_widgets():
    def count(scope):
        query = scope.restrict(select(func.count()).select_from(SampleNote), SampleNote.franchise_id)
        return {"kind": "figure", "value": db.session.scalar(query), "unit": "notes"}

    return [Widget("sample.notes", "Sample notes", count)]


@hookimpl
def crm_settings_schema():
    return SampleSettings


@hookimpl
def crm_domain_event(event, franchise_id, payload):
    db.session.add(SampleRecord(franchise_id=franchise_id, kind="event", detail=f"{event}:{payload.get('n')}"))


@hookimpl
def crm_customer_panels():
    from markupsafe import Markup, escape

    from core.customer360 import Panel

    def notes(customer):
        count = db.session.scalar(select(func.count()).select_from(SampleNote)
                                  .where(SampleNote.franchise_id == customer.franchise_id))
        return Markup("<p>sample notes in this franchise: %s</p>") % escape(count)

    def broken(customer):
        raise RuntimeError("a plugin bug")

    return [Panel("sample_notes", "Sample panel", notes), Panel("sample_broken", "Broken panel", broken, order=200)]


@hookimpl
def crm_customer_data(customer):
    return {"sample": [{"customer_id": customer.id, "note": "held by the sample plugin"}]}
