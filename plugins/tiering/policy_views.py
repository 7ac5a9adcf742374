"""The tier policy screen and API: edit a franchise's policy (or HQ's default), preview how many customers would
move between tiers (a dry run), then save. A refused policy shows its messages at the fields; the policy in force
stays as it was."""

from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.api import BaseApi, protect, safe
from flask_appbuilder.security.decorators import has_access, permission_name
from flask_babel import gettext as _, lazy_gettext as _l
from sqlalchemy import select

from core.extensions import db
from core.tenancy import Franchise, current_scope, current_user_obj, model_scope
from plugins.tiering.menu import TEMPLATE_FOLDER, add_view
from plugins.tiering.models import TIERS, TierPolicy
from plugins.tiering.policy import (DEFAULT, MEASURES, METHODS, TICKET_PRIORITIES, TIER_LABELS,
                                    check_policy, franchises_decided_by, levels_of, policy_in_force, save_policy,
                                    snapshot, stored_policy)
from plugins.tiering.recompute import NONE, dry_run

POLICY_MENU = "Tier policy"
HQ = "hq"


class TargetError(LookupError):
    """The policy asked for is not one the user may see (404) or write (403)."""

    def __init__(self, message, status: int = 404):
        super().__init__(message)
        self.status = status


def _target(raw, for_write: bool = False) -> int | None:
    """The franchise id a request names ("hq" or empty for HQ's default row), checked against the scope."""
    scope = model_scope(TierPolicy)
    if raw in (None, "", HQ):
        if raw in (None, "") and not current_scope().all:
            franchises = sorted(scope.franchise_ids)
            if franchises:
                return franchises[0]
        if not current_scope().all and for_write:
            raise TargetError(_("only HQ changes the network's default policy"), status=403)
        return None
    try:
        franchise_id = int(raw)
    except (TypeError, ValueError):
        raise TargetError(_("unknown franchise %(value)s", value=str(raw)[:20]))
    if not scope.allows(franchise_id) or db.session.get(Franchise, franchise_id) is None:
        raise TargetError(_("unknown franchise %(value)s", value=franchise_id))
    return franchise_id


def _values_from_form(form) -> dict:
    values = {name: form.get(name, "") for name in ("measure", "method", "window_days", "a_cut", "b_cut",
                                                    "rfm_window_days")}
    values["levels"] = {tier: {"callback_days": form.get(f"{tier}_callback_days", ""),
                               "dedicated_manager": form.get(f"{tier}_dedicated_manager") in ("y", "on", "1"),
                               "ticket_priority": form.get(f"{tier}_ticket_priority", ""),
                               "sla_policy_name": form.get(f"{tier}_sla_policy_name", "")} for tier in TIERS}
    return values


def _stored_values(franchise_id: int | None) -> tuple[dict, bool]:
    """The values the form starts from and whether they are the target's own (not inherited)."""
    own = stored_policy(franchise_id)
    policy = own or (policy_in_force(franchise_id) if franchise_id is not None else None)
    values = snapshot(policy)
    values["levels"] = levels_of(policy)
    return values, own is not None


def movement(franchise_id: int | None, values: dict) -> dict:
    """The dry run of `values` over every franchise the row decides, as a matrix {from: {to: count}}."""
    totals: dict[str, dict[str, int]] = {}
    for fid in franchises_decided_by(franchise_id):
        for key, count in dry_run(fid, values).items():
            old, new = key.split(">")
            totals.setdefault(old, {}).setdefault(new, 0)
            totals[old][new] += count
    return totals


def moved_count(matrix: dict) -> int:
    return sum(count for old, row in matrix.items() for new, count in row.items() if old not in (new, NONE))


class TierPolicyView(BaseView):
    plugin = "tiering"
    route_base = "/tiering/policy"
    default_view = "show"
    template_folder = TEMPLATE_FOLDER

    def _page(self, franchise_id, values, errors=None, matrix=None, own=True, status=200):
        franchises = db.session.execute(model_scope(TierPolicy).restrict(
            select(Franchise.id, Franchise.name, Franchise.code).order_by(Franchise.code), Franchise.id)).all()
        return self.render_template(
            "tiering/policy.html", target=franchise_id, values=values, errors=errors or {}, matrix=matrix,
            moved=moved_count(matrix) if matrix is not None else None, own=own, franchises=franchises,
            is_hq=current_scope().all, measures=MEASURES, methods=METHODS, priorities=TICKET_PRIORITIES,
            tiers=TIERS, tier_labels=TIER_LABELS, none=NONE, default=DEFAULT, title=_("Tier policy")), status

    @expose("/")
    @has_access
    @permission_name("show")
    def show(self):
        try:
            franchise_id = _target(request.args.get("franchise"))
        except TargetError as exc:
            flash(str(exc), "danger")
            return redirect(url_for("TierPolicyView.show", franchise=HQ if current_scope().all else None))
        values, own = _stored_values(franchise_id)
        return self._page(franchise_id, values, own=own)

    @expose("/", methods=["POST"])
    @has_access
    @permission_name("edit")
    def post(self):
        try:
            franchise_id = _target(request.form.get("franchise"), for_write=True)
        except TargetError as exc:
            flash(str(exc), "danger")
            return redirect(url_for("TierPolicyView.show"))
        action = request.form.get("action")
        if action == "inherit" and franchise_id is not None:
            own = stored_policy(franchise_id)
            if own is not None:
                db.session.delete(own)
                from plugins.tiering.recompute import request_recompute

                request_recompute(franchise_id, user_id=current_user_obj().id, trigger="policy")
                db.session.commit()
                flash(_("The franchise now follows HQ's default policy; a recompute is queued."), "success")
            return redirect(url_for("TierPolicyView.show", franchise=franchise_id))
        values = _values_from_form(request.form)
        cleaned, errors = check_policy(values)
        if errors:
            return self._page(franchise_id, values, errors=errors, status=400)
        if action != "save":
            return self._page(franchise_id, values, matrix=movement(franchise_id, cleaned))
        save_policy(franchise_id, values, user_id=current_user_obj().id)
        db.session.commit()
        flash(_("Policy saved; the tiers are being recomputed."), "success")
        return redirect(url_for("TierPolicyView.show", franchise=franchise_id if franchise_id else HQ))


class TierPolicyApi(BaseApi):
    resource_name = "tiering_policy"
    route_base = "/api/v1/tiering/policy"
    openapi_spec_tag = "Tiering"
    plugin = "tiering"
    method_permission_name = {"get_policy": "get", "put_policy": "put", "preview": "get"}

    def _target_or_404(self, target, for_write=False):
        try:
            return _target(target, for_write=for_write), None
        except TargetError as exc:
            return None, self.response(exc.status, message=str(exc))

    @expose("/<target>", methods=["GET"])
    @protect()
    @safe
    def get_policy(self, target):
        """The policy in force for a franchise (its id) or HQ's default ("hq")."""
        franchise_id, refused = self._target_or_404(target)
        if refused:
            return refused
        values, own = _stored_values(franchise_id)
        return self.response(200, result={**values, "own": own, "franchise_id": franchise_id})

    @expose("/<target>", methods=["PUT"])
    @protect()
    @safe
    def put_policy(self, target):
        """Save a franchise's policy (or HQ's default); 422 names each wrong field and changes nothing."""
        franchise_id, refused = self._target_or_404(target, for_write=True)
        if refused:
            return refused
        body = request.get_json(silent=True) if request.is_json else None
        if not isinstance(body, dict):
            return self.response_400(message=_("the request body must be a JSON object"))
        policy, errors = save_policy(franchise_id, body, user_id=current_user_obj().id)
        if errors:
            db.session.rollback()
            return self.response_422(message=errors)
        db.session.commit()
        values, _own = _stored_values(franchise_id)
        return self.response(200, result=values)

    @expose("/<target>/dry-run", methods=["POST"])
    @protect()
    @safe
    def preview(self, target):
        """How many customers would move between tiers under the posted policy; nothing is saved."""
        franchise_id, refused = self._target_or_404(target)
        if refused:
            return refused
        body = request.get_json(silent=True) if request.is_json else None
        if not isinstance(body, dict):
            return self.response_400(message=_("the request body must be a JSON object"))
        cleaned, errors = check_policy(body)
        if errors:
            return self.response_422(message=errors)
        matrix = movement(franchise_id, cleaned)
        return self.response(200, movement=matrix, moved=moved_count(matrix))


_VIEW, _API = "TierPolicyView", "TierPolicyApi"
READ = [("can_show", _VIEW), ("menu_access", POLICY_MENU), ("can_get", _API)]
PERMISSIONS = {
    "Franchise IT": READ + [("can_edit", _VIEW), ("can_put", _API)],
    "Outlet Manager": READ,
    "Account Manager": READ,
}


def add_views(appbuilder, category) -> None:
    add_view(appbuilder, TierPolicyView, POLICY_MENU, _l("Tier policy"), "fa-sliders")
    appbuilder.add_api(TierPolicyApi)
