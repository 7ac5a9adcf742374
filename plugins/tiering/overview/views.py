"""The "Tier overview" page: tier distribution per franchise, tier movement, the RFM grid and rule table, the
latest recompute of each franchise, and the "Recompute now" button (POST)."""

from __future__ import annotations

from datetime import timedelta

from flask import flash, redirect, request, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access, permission_name
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from core.clock import to_local, utcnow
from core.extensions import db
from core.tenancy import Franchise, current_user_obj, model_scope
from plugins.tiering.menu import TEMPLATE_FOLDER, add_view
from plugins.tiering.models import CustomerValue, TierRun
from plugins.tiering.overview import charts, figures
from plugins.tiering.overview.permissions import OVERVIEW_MENU
from plugins.tiering.rfm import RULES, SEGMENTS

PERIODS = (7, 30, 90, 365)
SOURCES = {"period": _l("Tier changes in the period"), "latest": _l("Latest recompute of each franchise")}
TRIGGERS = {"schedule": _l("Schedule"), "manual": _l("On demand"), "policy": _l("Policy change"),
            "rules": _l("Tag rule change")}
STALE_RUN = timedelta(hours=2)  # a run "running" longer than this died with its worker: do not block on it
STATUSES = {"running": _l("Running"), "done": _l("Done"), "failed": _l("Failed")}


class OverviewInputError(ValueError):
    def __init__(self, field, problem):
        super().__init__(f"{field}: {problem}")
        self.field, self.problem = field, problem


def visible_franchises(scope) -> list:
    query = select(Franchise.id, Franchise.name, Franchise.code).order_by(Franchise.code)
    return db.session.execute(scope.restrict(query, Franchise.id)).all()


def chosen_franchise(viewer_scope, raw):
    """The franchise id of the filter (None: all the viewer's), refused when out of the viewer's scope."""
    if raw in (None, ""):
        return None
    try:
        franchise_id = int(raw)
    except ValueError:
        raise OverviewInputError("franchise", _("no such franchise")) from None
    known = viewer_scope.allows(franchise_id) and (
        not viewer_scope.all or db.session.get(Franchise, franchise_id) is not None)  # HQ "allows" any number
    if not known:
        raise OverviewInputError("franchise", _("no such franchise"))
    return franchise_id


class OverviewRequest:
    """The page's filters, checked: franchise (one of the viewer's, or all), period in days, movement source."""

    def __init__(self, args):
        self.viewer_scope = model_scope(CustomerValue)  # the viewer's franchises where tiering is active
        self.franchise_id = chosen_franchise(self.viewer_scope, args.get("franchise"))
        self.scope = (self.viewer_scope.intersect([self.franchise_id]) if self.franchise_id is not None
                      else self.viewer_scope)
        raw_days = args.get("days") or "30"
        if not raw_days.isdigit() or int(raw_days) not in PERIODS:
            raise OverviewInputError("days", _("one of %(values)s", values=", ".join(map(str, PERIODS))))
        self.days = int(raw_days)
        self.source = args.get("movement") or "period"
        if self.source not in SOURCES:
            raise OverviewInputError("movement", _("one of %(values)s", values=", ".join(SOURCES)))
        self.end = utcnow()
        self.start = self.end - timedelta(days=self.days)


def rule_rows() -> list[dict]:
    def span(low_high):
        low, high = low_high
        return str(low) if low == high else f"{low}–{high}"

    return [{"code": rule.code, "label": rule.label, "r": span(rule.r), "f": span(rule.f), "m": span(rule.m),
             "meaning": rule.meaning, "colour": charts.SEGMENT_COLOURS.get(rule.code)} for rule in RULES]


def run_rows(runs) -> list[dict]:
    rows = []
    for run, name, code in runs:
        moves = ", ".join(f"{key.replace('>', '→')} {n}" for key, n in sorted((run.movement or {}).items()) if n)
        rows.append({"franchise_id": run.franchise_id, "franchise": f"{name} ({code})",
                     "started": to_local(run.started_at), "trigger": TRIGGERS.get(run.trigger, run.trigger),
                     "status": run.status, "status_label": STATUSES.get(run.status, run.status),
                     "seconds": run.seconds, "customers": run.customers, "changed": run.changed, "moves": moves,
                     "error": run.error})
    return rows


class TierOverviewView(BaseView):
    plugin = "tiering"
    route_base = "/tiering/overview"
    default_view = "show"
    template_folder = TEMPLATE_FOLDER
    base_permissions = ["can_show", "can_recompute"]

    def _may(self, permission: str) -> bool:
        return self.appbuilder.sm.has_access(f"can_{permission}", self.class_permission_name)

    @expose("/")
    @has_access
    @permission_name("show")
    def show(self):
        title = _("Tier overview")
        try:
            page = OverviewRequest(request.args)
        except OverviewInputError as exc:
            return self.render_template("tiering/overview.html", error=exc, page=None, title=title), 400
        counts = figures.tier_counts(page.scope)
        names = figures.franchise_names(counts)
        runs = figures.latest_runs(page.scope)
        moves = (figures.movement(page.scope, page.start, page.end) if page.source == "period"
                 else figures.run_movement(run for run, _n, _c in runs))
        grid = figures.rfm_grid(page.scope)
        segments = figures.segment_counts(page.scope)
        return self.render_template(
            "tiering/overview.html", error=None, page=page, title=title,
            franchises=visible_franchises(page.viewer_scope), periods=PERIODS, sources=SOURCES,
            totals=figures.totals(counts), counts=counts, names=names,
            distribution_chart=charts.distribution(counts, names) if counts else None,
            moves=sorted(moves.items(), key=lambda item: (-item[1], item[0])),
            movement_chart=charts.movement_sankey(moves), rfm_chart=charts.rfm_heatmap(grid),
            segment_rows=[(code, SEGMENTS[code], segments.get(code, 0)) for code in SEGMENTS],
            unscored=segments.get(None, 0), rules=rule_rows(), runs=run_rows(runs),
            may_recompute=self._may("recompute"))

    @expose("/recompute", methods=["POST"])
    @has_access
    @permission_name("recompute")
    def recompute(self):
        """Queue a recompute of one franchise (the "Recompute now" button); runs after this request commits."""
        from plugins.tiering.recompute import request_recompute

        back = redirect(url_for(".show", **({"franchise": request.form["back_franchise"]}
                                            if request.form.get("back_franchise") else {})))
        try:
            franchise_id = chosen_franchise(model_scope(TierRun), request.form.get("franchise"))
        except OverviewInputError as exc:
            flash(f"{exc.field}: {exc.problem}", "danger")
            return back
        if franchise_id is None:
            flash(_("franchise: choose the franchise to recompute"), "danger")
            return back
        running = db.session.scalar(select(TierRun.id).where(TierRun.franchise_id == franchise_id,
                                                             TierRun.status == "running",
                                                             TierRun.started_at > utcnow() - STALE_RUN).limit(1))
        if running is not None:
            flash(_("A recompute of this franchise is already running."), "warning")
            return back
        request_recompute(franchise_id, getattr(current_user_obj(), "id", None))
        db.session.commit()
        flash(_("Recompute queued: the figures refresh when it is done."), "success")
        return back


def add_views(appbuilder) -> None:
    add_view(appbuilder, TierOverviewView, OVERVIEW_MENU, _l("Tier overview"), "fa-pie-chart")
