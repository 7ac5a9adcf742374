"""Excel import screens and API: templates, upload, dry-run status and report, and starting the write.

Customers -> Imports lists the franchise's imports. "+" uploads a file, which is checked by a background
job (the dry run); the status page shows the counts and the first problems, offers the report as .xlsx and,
when the dry run allows it, "Import all" or "Import valid rows only". `/api/v1/import/` does the same.
"""

from __future__ import annotations

from urllib.parse import quote

from flask import (Response, abort, flash, redirect, render_template_string, request, send_file,
                   stream_with_context, url_for)
from flask_appbuilder.api import BaseApi, expose as api_expose, protect, safe
from flask_appbuilder.baseviews import expose
from flask_appbuilder.security.decorators import has_access, permission_name
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_appbuilder.fieldwidgets import Select2Widget
from sqlalchemy import select
from wtforms import SelectField

from core.errors import UserInputError
from core.extensions import db
from core.importing.runner import create_import, file_chunks, has_file, max_bytes, request_write, size_text
from core.importing.templates import ENTITIES, entity_choices, template_workbook
from core.lowcode.fields import locale
from core.models.imports import IMPORT_STATUSES, ImportRun
from core.spreadsheets import XLSX_MIMETYPE
from core.tenancy import Franchise, ScopedInterface, current_scope, current_user_obj, scope_criterion
from core.views.base import ScopedModelView

RUNNING = ("queued", "checking", "importing")


def _franchises_in_scope():
    query = current_scope().restrict(select(Franchise).where(Franchise.active.is_(True)).order_by(Franchise.code),
                                     Franchise.id)
    return db.session.scalars(query).all()


def _visible_run(pk) -> ImportRun | None:
    """The run if the current user's scope covers it (out of scope = absent)."""
    query = select(ImportRun).where(ImportRun.id == pk)
    condition = scope_criterion(ImportRun)
    if condition is not None:
        query = query.where(condition)
    return db.session.scalars(query).first()


def _template_response(entity: str):
    if entity not in ENTITIES:
        abort(404)
    franchise_id = request.args.get("franchise_id", type=int)
    if franchise_id is not None and not current_scope().allows(franchise_id):
        abort(404)
    handle = template_workbook(entity, locale(), franchise_id)
    name = f"{_('import')}-{ENTITIES[entity].label_plural}.xlsx"
    return send_file(handle, mimetype=XLSX_MIMETYPE, as_attachment=True, download_name=name)


def _report_response(run: ImportRun):
    if not has_file(run.id, "report"):
        abort(404)
    name = f"{_('report')}-{run.id}-{run.filename.rsplit('.', 1)[0]}.xlsx"
    response = Response(stream_with_context(file_chunks(run.id, "report")), mimetype=XLSX_MIMETYPE)
    response.headers["Content-Disposition"] = (f"attachment; filename=\"report-{run.id}.xlsx\"; "
                                               f"filename*=UTF-8''{quote(name)}")
    return response


def run_as_dict(run: ImportRun) -> dict:
    return {
        "id": run.id, "entity": run.entity, "franchise_id": run.franchise_id, "filename": run.filename,
        "status": run.status, "mode": run.mode, "error": run.error, "ignored_columns": run.notes,
        "rows": {"total": run.rows_total, "valid": run.rows_valid, "invalid": run.rows_invalid,
                 "new": run.rows_new, "matched": run.rows_matched, "created": run.rows_created,
                 "updated": run.rows_updated},
        "problems": [{"row": p[0], "column": p[1], "value": p[2], "problem": p[3]} for p in (run.preview or [])],
        "may_import_all": run.may_import_all, "may_import_valid_only": run.may_import_valid,
        "created_at": run.created_at.isoformat() if run.created_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }


# --- screens -------------------------------------------------------------------------------------------

UPLOAD_PAGE = """{% extends "appbuilder/base.html" %}
{% block content %}
<h2>{{ t.title }}</h2>
<div class="panel panel-default"><div class="panel-body">
<form method="post" enctype="multipart/form-data" action="{{ url_for('ImportRunView.add') }}" id="import-upload">
  <input type="hidden" name="csrf_token" value="{{ csrf_token() }}">
  <div class="form-group"><label for="entity">{{ t.entity }}</label>
    <select class="form-control" id="entity" name="entity">
    {% for key, label in entities %}<option value="{{ key }}" {{ 'selected' if key == entity else '' }}>{{ label }}</option>{% endfor %}
    </select></div>
  {% if franchises|length > 1 %}
  <div class="form-group"><label for="franchise_id">{{ t.franchise }}</label>
    <select class="form-control" id="franchise_id" name="franchise_id">
    <option value="">—</option>
    {% for f in franchises %}<option value="{{ f.id }}" {{ 'selected' if f.id == franchise_id else '' }}>{{ f }}</option>{% endfor %}
    </select></div>
  {% endif %}
  <div class="form-group"><label for="file">{{ t.file }}</label>
    <input type="file" id="file" name="file" required
           accept=".xlsx,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet">
    <p class="help-block">{{ t.help }}</p></div>
  <button type="submit" class="btn btn-primary"><i class="fa fa-upload"></i> {{ t.submit }}</button>
  <a class="btn btn-default" href="{{ url_for('ImportRunView.list') }}">{{ t.back }}</a>
</form></div></div>
<h4>{{ t.templates }}</h4>
<p class="text-muted">{{ t.templates_help }}</p>
<ul>{% for key, label in entities %}
  <li><a href="{{ url_for('ImportRunView.template', entity=key) }}"><i class="fa fa-file-excel-o"></i> {{ label }}</a></li>
{% endfor %}</ul>
{% endblock %}
"""

STATUS_PAGE = """{% extends "appbuilder/base.html" %}
{% block content %}
<h2>{{ t.title }}</h2>
<table class="table table-condensed" style="max-width: 48em" id="import-status">
  <tr><th>{{ t.file }}</th><td>{{ run.filename }}</td></tr>
  <tr><th>{{ t.entity }}</th><td>{{ run.entity_label }}</td></tr>
  <tr><th>{{ t.franchise }}</th><td>{{ run.franchise }}</td></tr>
  <tr><th>{{ t.status }}</th><td data-status="{{ run.status }}"><strong>{{ run.status_label }}</strong>
    {% if run.status in running %}<i class="fa fa-spinner fa-spin"></i>{% endif %}</td></tr>
  {% if run.rows_total %}
  <tr><th>{{ t.rows }}</th><td>{{ run.rows_total }}</td></tr>
  <tr><th>{{ t.valid }}</th><td>{{ run.rows_valid }}{% if run.status in ('checked', 'importing') %}
      ({{ t.would_create }} {{ run.rows_new }}, {{ t.would_update }} {{ run.rows_matched }}){% endif %}</td></tr>
  <tr><th>{{ t.invalid }}</th><td data-invalid="{{ run.rows_invalid }}">{{ run.rows_invalid }}</td></tr>
  {% endif %}
  {% if run.status == 'done' %}
  <tr><th>{{ t.created }}</th><td data-created="{{ run.rows_created }}">{{ run.rows_created }}</td></tr>
  <tr><th>{{ t.updated }}</th><td data-updated="{{ run.rows_updated }}">{{ run.rows_updated }}</td></tr>
  {% endif %}
  {% if run.notes %}<tr><th>{{ t.ignored }}</th><td>{{ run.notes }}</td></tr>{% endif %}
</table>
{% if run.error %}<div class="alert alert-danger" id="import-error">{{ run.error }}</div>{% endif %}
{% if run.status == 'checked' and run.rows_invalid %}
<div class="alert alert-warning">{{ t.has_problems }}</div>
{% elif run.status == 'checked' %}
<div class="alert alert-success">{{ t.no_problems }}</div>
{% endif %}
<p>
{% if has_report %}<a class="btn btn-default" href="{{ url_for('ImportRunView.report', pk=run.id) }}" id="import-report">
  <i class="fa fa-download"></i> {{ t.report }}</a>{% endif %}
{% if may_start and run.may_import_all %}
<form method="post" action="{{ url_for('ImportRunView.start', pk=run.id) }}" style="display:inline">
  <input type="hidden" name="csrf_token" value="{{ csrf_token() }}">
  <button class="btn btn-primary" name="mode" value="all">{{ t.import_all }}</button></form>
{% endif %}
{% if may_start and run.may_import_valid %}
<form method="post" action="{{ url_for('ImportRunView.start', pk=run.id) }}" style="display:inline">
  <input type="hidden" name="csrf_token" value="{{ csrf_token() }}">
  <button class="btn btn-warning" name="mode" value="valid_only">{{ t.import_valid }}</button></form>
{% endif %}
<a class="btn btn-default" href="{{ url_for('ImportRunView.list') }}">{{ t.back }}</a>
</p>
{% if run.preview %}
<h4>{{ t.first_problems }}</h4>
<table class="table table-striped table-condensed" id="import-problems">
  <tr><th>{{ t.row }}</th><th>{{ t.column }}</th><th>{{ t.value }}</th><th>{{ t.problem }}</th></tr>
  {% for row, column, value, problem in run.preview %}
  <tr><td>{{ row }}</td><td>{{ column }}</td><td>{{ value }}</td><td>{{ problem }}</td></tr>
  {% endfor %}
</table>
{% endif %}
{% if run.status in running %}
<script>setTimeout(function () { window.location.reload(); }, 3000);</script>
{% endif %}
{% endblock %}
"""


def _upload_texts() -> dict:
    return {
        "title": _("Import from Excel"), "entity": _("What to import"), "franchise": _("Franchise"),
        "file": _("Excel file (.xlsx)"), "submit": _("Upload and check"), "back": _("Back"),
        "help": _("At most %(size)s. The file is checked first (a dry run); nothing is stored until you "
                  "start the import.", size=size_text(max_bytes())),
        "templates": _("Templates"),
        "templates_help": _("Each template has the columns of the import, including the custom fields, an "
                            "example row and a sheet of instructions."),
    }


def _status_texts() -> dict:
    return {
        "title": _("Import"), "file": _("File"), "entity": _("What"), "franchise": _("Franchise"),
        "status": _("Status"), "rows": _("Rows"), "valid": _("Rows without problems"),
        "invalid": _("Rows with problems"), "would_create": _("new:"), "would_update": _("updates:"),
        "created": _("Rows created"), "updated": _("Rows updated"), "ignored": _("Ignored columns"),
        "has_problems": _("Some rows have problems. Correct the file and upload it again, or import only the "
                          "rows without problems."),
        "no_problems": _("The dry run found no problems. Nothing has been stored yet."),
        "report": _("Download the report (.xlsx)"), "import_all": _("Import all"),
        "import_valid": _("Import valid rows only"), "back": _("Back"), "first_problems": _("First problems"),
        "row": _("Row"), "column": _("Column"), "value": _("Value"), "problem": _("Problem"),
    }


class ImportRunView(ScopedModelView):
    route_base = "/imports"
    datamodel = ScopedInterface(ImportRun)
    entity_label, entity_label_plural = _l("Import"), _l("Imports")
    base_permissions = ["can_list", "can_show", "can_add"]
    list_columns = ["created_at", "entity_label", "filename", "franchise", "status_label", "rows_total",
                    "rows_invalid", "created_by"]
    search_columns = ["filename", "entity", "status", "franchise", "created_at"]
    search_form_extra_fields = {
        "entity": SelectField(_l("What"), choices=entity_choices, widget=Select2Widget()),
        "status": SelectField(_l("Status"), choices=lambda: [(k, str(v)) for k, v in IMPORT_STATUSES.items()],
                              widget=Select2Widget()),
    }
    order_columns = ["created_at", "filename"]
    base_order = ("created_at", "desc")
    label_columns = {
        "created_at": _l("Uploaded"), "entity": _l("What"), "entity_label": _l("What"), "filename": _l("File"),
        "franchise": _l("Franchise"), "status": _l("Status"), "status_label": _l("Status"),
        "rows_total": _l("Rows"), "rows_invalid": _l("Rows with problems"), "created_by": _l("By"),
    }

    def _render(self, source: str, **context):
        return render_template_string(source, appbuilder=self.appbuilder,
                                      base_template=self.appbuilder.base_template, **context)

    @expose("/add", methods=["GET", "POST"])
    @has_access
    def add(self):
        """The upload form; a good upload becomes a run whose dry run is queued, and its status page opens."""
        franchises = _franchises_in_scope()
        entity = request.values.get("entity", "customers")
        franchise_id = request.form.get("franchise_id", type=int)
        if request.method == "POST":
            upload = request.files.get("file")
            if upload is None or not upload.filename:
                flash(_("Choose an Excel file."), "danger")
            else:
                if franchise_id is None and len(franchises) == 1:
                    franchise_id = franchises[0].id
                try:
                    run = create_import(entity, franchise_id, upload.filename, upload.stream,
                                        current_user_obj(), content_length=request.content_length)
                    db.session.commit()  # the dry run starts after the commit
                except UserInputError as exc:
                    db.session.rollback()
                    flash(str(exc), "danger")
                else:
                    return redirect(url_for(".show", pk=run.id))
        return self._render(UPLOAD_PAGE, t=_upload_texts(), entities=entity_choices(), entity=entity,
                            franchises=franchises, franchise_id=franchise_id)

    @expose("/show/<int:pk>", methods=["GET"])
    @has_access
    def show(self, pk):
        run = _visible_run(pk)
        if run is None:
            abort(404)
        may_start = self.appbuilder.sm.has_access("can_add", self.class_permission_name)
        return self._render(STATUS_PAGE, t=_status_texts(), run=run, running=RUNNING, may_start=may_start,
                            has_report=has_file(run.id, "report"))

    @expose("/start/<int:pk>", methods=["POST"])
    @has_access
    @permission_name("add")
    def start(self, pk):
        run = _visible_run(pk)
        if run is None:
            abort(404)
        try:
            request_write(run, request.form.get("mode", ""), current_user_obj())
            db.session.commit()  # the write starts after the commit
        except UserInputError as exc:
            db.session.rollback()
            flash(str(exc), "danger")
        return redirect(url_for(".show", pk=pk))

    @expose("/report/<int:pk>", methods=["GET"])
    @has_access
    @permission_name("show")
    def report(self, pk):
        run = _visible_run(pk)
        if run is None:
            abort(404)
        return _report_response(run)

    @expose("/template/<entity>", methods=["GET"])
    @has_access
    @permission_name("list")
    def template(self, entity):
        return _template_response(entity)


# --- REST ----------------------------------------------------------------------------------------------


class ImportApi(BaseApi):
    """/api/v1/import/: templates, upload (multipart), status, report and start of the write."""

    resource_name = "import"
    openapi_spec_tag = "Imports"
    method_permission_name = {"template": "get", "upload": "post", "status": "get", "report": "get",
                              "start": "post"}

    @api_expose("/template/<entity>", methods=["GET"])
    @protect(allow_browser_login=True)
    @safe
    def template(self, entity):
        """The .xlsx template of an entity (customers, contacts, shipments)
        ---
        get:
          parameters:
          - {in: path, name: entity, required: true, schema: {type: string, enum: [customers, contacts, shipments]}}
          - {in: query, name: franchise_id, schema: {type: integer}}
          responses:
            200: {description: the template workbook}
            404: {description: unknown entity}
        """
        return _template_response(entity)

    @api_expose("/", methods=["POST"])
    @protect()
    @safe
    def upload(self):
        """Upload a workbook (multipart: entity, franchise_id, file); its dry run starts at once
        ---
        post:
          requestBody:
            required: true
            content:
              multipart/form-data:
                schema:
                  type: object
                  properties:
                    entity: {type: string, enum: [customers, contacts, shipments]}
                    franchise_id: {type: integer}
                    file: {type: string, format: binary}
          responses:
            201: {description: the import, with its status}
            422: {description: a message naming the field or the file}
        """
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            return self.response_422(message={"file": [_("Choose an Excel file.")]})
        try:
            run = create_import(request.form.get("entity", ""), request.form.get("franchise_id", type=int),
                                upload.filename, upload.stream, current_user_obj(),
                                content_length=request.content_length)
            db.session.commit()
        except UserInputError as exc:
            db.session.rollback()
            field = getattr(exc, "field", None) or "file"
            return self.response_422(message={field: [str(exc)]})
        db.session.refresh(run)
        return self.response(201, id=run.id, result=run_as_dict(run))

    @api_expose("/<int:pk>", methods=["GET"])
    @protect()
    @safe
    def status(self, pk):
        """Status, counts and the first problems of an import
        ---
        get:
          parameters:
          - {in: path, name: pk, required: true, schema: {type: integer}}
          responses:
            200: {description: the import}
            404: {description: no such import in your scope}
        """
        run = _visible_run(pk)
        if run is None:
            return self.response_404()
        return self.response(200, result=run_as_dict(run))

    @api_expose("/<int:pk>/report", methods=["GET"])
    @protect()
    @safe
    def report(self, pk):
        """The problem report (.xlsx): row, column, value (personal data masked), problem
        ---
        get:
          parameters:
          - {in: path, name: pk, required: true, schema: {type: integer}}
          responses:
            200: {description: the report workbook}
            404: {description: no such import or no report yet}
        """
        run = _visible_run(pk)
        if run is None or not has_file(run.id, "report"):
            return self.response_404()
        return _report_response(run)

    @api_expose("/<int:pk>/start", methods=["POST"])
    @protect()
    @safe
    def start(self, pk):
        """Start the write of a checked import: {"mode": "all" | "valid_only"}
        ---
        post:
          parameters:
          - {in: path, name: pk, required: true, schema: {type: integer}}
          requestBody:
            content:
              application/json:
                schema: {type: object, properties: {mode: {type: string, enum: [all, valid_only]}}}
          responses:
            202: {description: the write is queued (or, without Redis, done)}
            404: {description: no such import in your scope}
            422: {description: the import cannot be started in this mode}
        """
        run = _visible_run(pk)
        if run is None:
            return self.response_404()
        body = request.get_json(silent=True) or {}
        try:
            request_write(run, str(body.get("mode", "")), current_user_obj())
            db.session.commit()
        except UserInputError as exc:
            db.session.rollback()
            return self.response_422(message=str(exc))
        run = _visible_run(pk)
        return self.response(202, result=run_as_dict(run))


def register(appbuilder) -> None:
    """Customers -> Imports and /api/v1/import/ (call after core.views.customers.register)."""
    appbuilder.add_view(ImportRunView, "Imports", label=_l("Imports"), icon="fa-upload", category="Customers")
    appbuilder.add_api(ImportApi)
