"""The "Segments" screens: saved filters with their live counts, add and edit with the condition builder (the
count follows the conditions as they are typed), the members page (keyset by customer id) and its CSV and
Excel export. Counts, members and exports cover the reader's franchises only, HQ's segments included."""

from __future__ import annotations

import csv
import io

from flask import Response, abort, flash, jsonify, redirect, request, send_file, stream_with_context, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access, has_access_api, permission_name
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from core.audit import audit_entry
from core.extensions import db
from core.spreadsheets import XLSX_MIMETYPE, write_workbook
from core.tenancy import current_user_obj, may_write, scope_criterion
from plugins.tiering import conditions_form as builder
from plugins.tiering.fields import catalogue, describe
from plugins.tiering.menu import TEMPLATE_FOLDER, add_view
from plugins.tiering.models import Segment
from plugins.tiering.segments.permissions import SEGMENTS_MENU
from plugins.tiering.segments.service import (checked, count_members, member_batches, member_page, members_select,
                                              reading_scope, save_segment, visible_segment)

PAGE_SIZE = 50
MEMBERS_PAGE = 50
EXPORT_HEADER = (_l("Customer id"), _l("Customer"), _l("Tier"), _l("RFM segment"), _l("R"), _l("F"), _l("M"),
                 _l("Parcels per month"), _l("Freight per month"), _l("Tags"), _l("District"))


def _export_row(member: dict) -> list:
    def number(value):
        return float(value) if value is not None else ""

    return [member["id"], member["name"], member["tier"], member["rfm_segment"], member["r"] or "",
            member["f"] or "", member["m"] or "", number(member["monthly_volume"]),
            number(member["monthly_revenue"]), ", ".join(member["tags"]), member["district"]]


def _user_id():
    return getattr(current_user_obj(), "id", None)


class SegmentView(BaseView):
    plugin = "tiering"
    route_base = "/tiering/segments"
    default_view = "list"
    template_folder = TEMPLATE_FOLDER
    base_permissions = ["can_list", "can_add", "can_edit", "can_delete", "can_members", "can_export"]

    def _may(self, permission: str) -> bool:
        return bool(self.appbuilder.sm.has_access(f"can_{permission}", self.class_permission_name))

    def _visible(self, pk: int) -> Segment:
        segment = visible_segment(pk)
        if segment is None:
            abort(404)
        return segment

    def _writable(self, pk: int) -> Segment:
        segment = self._visible(pk)
        if not may_write(Segment, segment.franchise_id):
            abort(403)
        return segment

    @expose("/")
    @has_access
    @permission_name("list")
    def list(self):
        page = max(request.args.get("page", 0, type=int) or 0, 0)
        query = select(Segment).order_by(Segment.franchise_id.is_(None).desc(), Segment.franchise_id, Segment.name)
        condition = scope_criterion(Segment)
        if condition is not None:
            query = query.where(condition)
        segments = db.session.scalars(query.offset(page * PAGE_SIZE).limit(PAGE_SIZE + 1)).all()
        more, segments = len(segments) > PAGE_SIZE, segments[:PAGE_SIZE]
        catalogues: dict = {}
        rows = []
        for segment in segments:
            if segment.franchise_id not in catalogues:
                catalogues[segment.franchise_id] = catalogue(segment.franchise_id, for_segments=True)
            conditions, problem = checked(segment)
            rows.append({"segment": segment, "franchise": builder.franchise_label(segment.franchise),
                         "conditions": [describe(c, catalogues[segment.franchise_id])
                                        for c in segment.conditions or []],
                         # one count per segment on the page, over the reader's franchises
                         "count": None if problem else count_members(segment.franchise_id, conditions),
                         "problem": problem, "writable": may_write(Segment, segment.franchise_id)})
        return self.render_template("tiering/segments_list.html", rows=rows, page=page, more=more,
                                    may_add=self._may("add"), may_edit=self._may("edit"),
                                    may_delete=self._may("delete"), may_export=self._may("export"),
                                    title=_("Segments"))

    def _form(self, segment: Segment | None):
        errors, values = {}, {"name": "", "description": ""}
        franchise_id = segment.franchise_id if segment is not None else None
        raw_franchise = "" if segment is None else str(segment.franchise_id or "")
        choices = builder.franchise_choices(Segment)
        if segment is None and choices:  # a new segment starts in the first place the user may put it
            raw_franchise = choices[0][0]
            franchise_id = int(raw_franchise) if raw_franchise else None
        if segment is not None:
            values = {"name": segment.name, "description": segment.description or ""}
        rows = builder.rows_for_form(segment.conditions if segment is not None else [])
        if request.method == "POST":
            values = {"name": request.form.get("name", ""), "description": request.form.get("description", "")}
            try:
                if segment is None:
                    raw_franchise = request.form.get("franchise", "")
                    franchise_id = builder.read_franchise(raw_franchise, Segment)
                rows = builder.read_rows(request.form, catalogue(franchise_id, for_segments=True))
                saved, errors = save_segment(segment, franchise_id, {**values, "conditions": rows}, _user_id())
            except builder.FranchiseChoiceError as exc:
                errors = {"franchise": str(exc)}
            if not errors:
                db.session.commit()
                flash(_("Segment %(name)s saved.", name=saved.name), "success")
                return redirect(url_for(".list"))
            db.session.rollback()
            rows = builder.rows_for_form(rows)
        fields = catalogue(franchise_id, for_segments=True)
        return self.render_template(
            "tiering/segments_form.html", segment=segment, values=values, errors=errors, choices=choices,
            raw_franchise=raw_franchise,
            franchise_label=builder.franchise_label(segment.franchise) if segment is not None else None,
            b=builder.builder_context(fields, rows), title=_("Edit segment") if segment else _("Add segment")
        ), (400 if errors else 200)

    @expose("/add", methods=["GET", "POST"])
    @has_access
    @permission_name("add")
    def add(self):
        return self._form(None)

    @expose("/edit/<int:pk>", methods=["GET", "POST"])
    @has_access
    @permission_name("edit")
    def edit(self, pk):
        return self._form(self._writable(pk))

    @expose("/delete/<int:pk>", methods=["POST"])
    @has_access
    @permission_name("delete")
    def delete(self, pk):
        segment = self._writable(pk)
        name = segment.name
        db.session.delete(segment)
        db.session.commit()
        flash(_("Segment %(name)s deleted.", name=name), "success")
        return redirect(url_for(".list"))

    @expose("/count", methods=["POST"])
    @has_access_api
    @permission_name("list")
    def count(self):
        """POST the form -> {"count": n} customers the conditions select in the reader's franchises, or 400
        {"message", "errors"}."""
        segment = visible_segment(request.form.get("segment_id", type=int) or 0)
        try:
            franchise_id = (segment.franchise_id if segment is not None
                            else builder.read_franchise(request.form.get("franchise", ""), Segment))
        except builder.FranchiseChoiceError as exc:
            return jsonify(message=str(exc), errors={"franchise": str(exc)}), 400
        conditions, message, _rows = builder.read_conditions(request.form, franchise_id, for_segments=True)
        if message:
            return jsonify(message=message, errors={"conditions": message}), 400
        return jsonify(count=count_members(franchise_id, conditions))

    @expose("/fields")
    @has_access_api
    @permission_name("list")
    def fields(self):
        """GET ?franchise=<id or empty for HQ> -> the builder's grouped fields for that franchise."""
        try:
            franchise_id = builder.read_franchise(request.args.get("franchise", ""), Segment)
        except builder.FranchiseChoiceError as exc:
            return jsonify(message=str(exc), errors={"franchise": str(exc)}), 400
        return jsonify(builder.fields_for(franchise_id, for_segments=True))

    def _conditions_or_400(self, segment: Segment):
        conditions, problem = checked(segment)
        if problem:
            abort(Response(problem, status=400))
        return conditions

    @expose("/members/<int:pk>")
    @has_access
    @permission_name("members")
    def members(self, pk):
        segment = self._visible(pk)
        conditions, problem = checked(segment)
        after = max(request.args.get("after", 0, type=int) or 0, 0)
        members, total = [], None
        if not problem:
            scope = reading_scope(segment.franchise_id)
            members = member_page(segment.franchise_id, conditions, scope, after, MEMBERS_PAGE + 1)
            if not after:
                total = count_members(segment.franchise_id, conditions, scope)
        more, members = len(members) > MEMBERS_PAGE, members[:MEMBERS_PAGE]
        return self.render_template(
            "tiering/segments_members.html", segment=segment, members=members, problem=problem, total=total,
            after=after, next_after=members[-1]["id"] if more else None, may_export=self._may("export"),
            franchise=builder.franchise_label(segment.franchise), title=segment.name)

    def _audit_export(self, segment: Segment, fmt: str) -> None:
        # the member list is customer data leaving the system: who took which segment, in which format
        db.session.add(audit_entry(action="export", model="Segment", record_id=segment.id,
                                   franchise_id=segment.franchise_id,
                                   changes={"format": [None, fmt], "segment": [None, segment.name]}))
        db.session.commit()

    @expose("/export/<int:pk>.csv")
    @has_access
    @permission_name("export")
    def export_csv(self, pk):
        """The members as CSV (UTF-8 with BOM for Excel), streamed a batch at a time."""
        segment = self._visible(pk)
        conditions = self._conditions_or_400(segment)
        query = members_select(segment.franchise_id, conditions, reading_scope(segment.franchise_id))
        segment_id = segment.id
        self._audit_export(segment, "csv")  # commits: everything the rows need is built above
        header = [str(label) for label in EXPORT_HEADER]

        def lines():
            buffer = io.StringIO()
            writer = csv.writer(buffer)
            writer.writerow(header)
            yield "\ufeff" + buffer.getvalue()
            try:
                for member in member_batches(query):
                    buffer.seek(0)
                    buffer.truncate()
                    writer.writerow(_export_row(member))
                    yield buffer.getvalue()
            finally:
                db.session.rollback()  # a streamed download outlives the request: end the read here

        return Response(stream_with_context(lines()), mimetype="text/csv",
                        headers={"Content-Disposition": f"attachment; filename=segment-{segment_id}.csv"})

    @expose("/export/<int:pk>.xlsx")
    @has_access
    @permission_name("export")
    def export_xlsx(self, pk):
        """The members as an Excel workbook, written row by row (write-only) to a temporary file."""
        segment = self._visible(pk)
        conditions = self._conditions_or_400(segment)
        query = members_select(segment.franchise_id, conditions, reading_scope(segment.franchise_id))
        segment_id, title = segment.id, segment.name
        self._audit_export(segment, "xlsx")
        rows = (_export_row(member) for member in member_batches(query))
        handle = write_workbook(title, [str(label) for label in EXPORT_HEADER], rows)
        return send_file(handle, mimetype=XLSX_MIMETYPE, as_attachment=True, download_name=f"segment-{segment_id}.xlsx")


def add_views(appbuilder) -> None:
    add_view(appbuilder, SegmentView, SEGMENTS_MENU, _l("Segments"), "fa-filter")
