"""The "Ticket reports" page: figures, charts and a table of ticket counts for a period and franchise, and the
table as CSV."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import date

from flask import Response, abort, request
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access, permission_name
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from core.extensions import db
from core.models.choices import label
from core.tenancy import Franchise, model_scope
from plugins.tickets import choices
from plugins.tickets.menu import TEMPLATE_FOLDER, add_view
from plugins.tickets.models import Ticket
from plugins.tickets.reports import metrics
from plugins.tickets.reports.periods import days_utc, last_days
from plugins.tickets.reports.permissions import REPORTS_MENU

MAX_DAYS = 366 * 2
BUCKET_LABELS = {"day": _l("Day"), "week": _l("Week"), "month": _l("Month")}
DIMENSION_LABELS = {"type": _l("Type"), "category": _l("Complaint category"), "franchise": _l("Franchise"),
                    "transfer_centre": _l("Transfer centre")}
BACKLOG_LABELS = {"lt_1d": _l("Under 1 day"), "1_3d": _l("1 to 3 days"), "3_7d": _l("3 to 7 days"),
                  "gt_7d": _l("Over 7 days")}


class ReportInputError(ValueError):
    def __init__(self, field, message):
        super().__init__(f"{field}: {message}")
        self.field, self.problem = field, message


def _date_arg(name, default) -> date:
    raw = request.args.get(name)
    if not raw:
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ReportInputError(name, _("a date like 2024-05-31")) from None


def _choice_arg(name, options, default):
    value = request.args.get(name) or default
    if value not in options:
        raise ReportInputError(name, _("not one of: %(values)s", values=", ".join(options)))
    return value


class ReportRequest:
    """The filters of the page, checked: local dates, franchise (one of the viewer's, or all), bucket, dimension."""

    def __init__(self):
        first, last = last_days(30)
        self.first = _date_arg("start", first)
        self.last = _date_arg("end", last)
        if self.last < self.first:
            raise ReportInputError("end", _("the end comes before the start"))
        if (self.last - self.first).days > MAX_DAYS:
            raise ReportInputError("end", _("at most %(n)d days", n=MAX_DAYS))
        self.bucket = _choice_arg("bucket", metrics.BUCKETS, "day" if (self.last - self.first).days <= 62 else "week")
        self.dimension = _choice_arg("dimension", metrics.DIMENSIONS, "type")
        self.viewer_scope = model_scope(Ticket)  # the viewer's franchises where tickets are active
        self.franchise_id = request.args.get("franchise", type=int)
        if self.franchise_id is not None and not self.viewer_scope.allows(self.franchise_id):
            raise ReportInputError("franchise", _("no such franchise"))
        self.scope = (self.viewer_scope.intersect([self.franchise_id]) if self.franchise_id is not None
                      else self.viewer_scope)
        self.start, self.end = days_utc(self.first, self.last)


def key_label(dimension: str, key, franchise_names: dict) -> str:
    if key is None or key == "":
        return _("(none)")
    if dimension == "type":
        return label(choices.TYPES, key)
    if dimension == "category":
        return label(choices.CATEGORIES, key)
    if dimension == "franchise":
        return franchise_names.get(key, str(key))
    return str(key)


def _franchise_names(ids) -> dict[int, str]:
    ids = [i for i in ids if i is not None]
    if not ids:
        return {}
    return {fid: f"{name} ({code})" for fid, name, code in db.session.execute(
        select(Franchise.id, Franchise.name, Franchise.code).where(Franchise.id.in_(ids)))}


def table_rows(report: ReportRequest) -> list[tuple[str, str, int]]:
    rows = metrics.ticket_counts(report.scope, report.start, report.end, report.dimension, report.bucket)
    names = _franchise_names({k for _, k, _ in rows}) if report.dimension == "franchise" else {}
    return [(bucket, key_label(report.dimension, key, names), count) for bucket, key, count in rows]


def counts_chart(rows) -> dict:
    buckets = sorted({bucket for bucket, _, _ in rows})
    by_key: dict[str, dict[str, int]] = defaultdict(dict)
    for bucket, key, count in rows:
        by_key[key][bucket] = count
    return {"tooltip": {"trigger": "axis"}, "legend": {"type": "scroll"},
            "xAxis": {"type": "category", "data": buckets}, "yAxis": {"type": "value", "minInterval": 1},
            "series": [{"type": "bar", "stack": "n", "name": key, "data": [values.get(b, 0) for b in buckets]}
                       for key, values in by_key.items()]}


def backlog_chart(backlog: dict) -> dict:
    return {"tooltip": {}, "xAxis": {"type": "category", "data": [str(BACKLOG_LABELS[k]) for k in backlog]},
            "yAxis": {"type": "value", "minInterval": 1}, "series": [{"type": "bar", "data": list(backlog.values())}]}


def _visible_franchises(scope):
    query = select(Franchise.id, Franchise.name, Franchise.code).order_by(Franchise.code)
    return db.session.execute(scope.restrict(query, Franchise.id)).all()


class TicketReportView(BaseView):
    plugin = "tickets"
    route_base = "/tickets/reports"
    default_view = "show"
    template_folder = TEMPLATE_FOLDER

    @expose("/")
    @has_access
    @permission_name("show")
    def show(self):
        try:
            report = ReportRequest()
        except ReportInputError as exc:
            return self.render_template("tickets/reports.html", error=exc, report=None, title=_("Ticket reports")), 400
        rows = table_rows(report)
        times = metrics.response_times(report.scope, report.start, report.end)
        backlog = metrics.backlog_age(report.scope)
        figures = {
            "sla": metrics.sla_attainment(report.scope, report.start, report.end),
            "fcr": metrics.first_contact_resolution(report.scope, report.start, report.end),
            "complaints": metrics.complaint_rate(report.scope, report.start, report.end),
        }
        return self.render_template(
            "tickets/reports.html", report=report, rows=rows, times=times, figures=figures, backlog=backlog,
            backlog_labels=BACKLOG_LABELS, counts_chart=counts_chart(rows), backlog_chart=backlog_chart(backlog),
            franchises=_visible_franchises(report.viewer_scope), buckets=BUCKET_LABELS, dimensions=DIMENSION_LABELS,
            total=sum(count for _, _, count in rows), error=None, title=_("Ticket reports"))

    @expose("/export.csv")
    @has_access
    @permission_name("export")
    def export(self):
        try:
            report = ReportRequest()
        except ReportInputError as exc:
            abort(400, description=str(exc))
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow([str(BUCKET_LABELS[report.bucket]), str(DIMENSION_LABELS[report.dimension]), _("Tickets")])
        writer.writerows(table_rows(report))
        filename = f"tickets_{report.dimension}_{report.first:%Y%m%d}_{report.last:%Y%m%d}.csv"
        return Response("\ufeff" + buffer.getvalue(), mimetype="text/csv",
                        headers={"Content-Disposition": f"attachment; filename={filename}"})


def add_views(appbuilder, category) -> None:
    add_view(appbuilder, TicketReportView, REPORTS_MENU, _l("Ticket reports"), "fa-bar-chart")
