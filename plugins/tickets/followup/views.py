"""Screens: callback rules (which closed tickets get a callback, how long after) and the callbacks list,
the current agent's open callbacks first in due order, with a form to record each attempt."""

from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from flask_appbuilder.actions import action
from flask_appbuilder.baseviews import expose
from flask_appbuilder.fieldwidgets import Select2Widget
from flask_appbuilder.security.decorators import has_access, permission_name
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, case, select
from wtforms import SelectField
from wtforms import validators as wtv

from core.extensions import db
from core.tenancy import ScopedInterface, current_user_obj, scope_criterion
from core.views.base import ScopedModelView
from plugins.tickets import choices
from plugins.tickets.conditions import choice_list, labels_of
from plugins.tickets.followup import service
from plugins.tickets.followup.models import CALLBACK_OUTCOMES, CALLBACK_STATUSES, CallbackRule, CallbackTask
from plugins.tickets.menu import TEMPLATE_FOLDER, add_view
from plugins.tickets.workflow import TicketError

RULES_MENU = "Callback rules"
CALLBACKS_MENU = "Callbacks"


class CallbackRuleView(ScopedModelView):
    route_base = "/tickets/callback-rules"
    datamodel = ScopedInterface(CallbackRule)
    entity_label, entity_label_plural = _l("Callback rule"), _l("Callback rules")
    list_columns = ["name", "active", "types", "categories", "priorities", "resolution_codes", "delay_hours",
                    "franchise"]
    show_columns = add_columns = edit_columns = list_columns
    search_columns = ["name", "active", "franchise"]
    order_columns = ["name", "delay_hours"]
    base_order = ("name", "asc")
    label_columns = {"name": _l("Name"), "active": _l("Active"), "types": _l("Ticket types"),
                     "categories": _l("Categories"), "priorities": _l("Priorities"),
                     "resolution_codes": _l("Resolution codes"), "delay_hours": _l("Call after (hours)"),
                     "franchise": _l("Franchise")}
    description_columns = {"types": _l("Empty: any"), "categories": _l("Empty: any"), "priorities": _l("Empty: any"),
                           "resolution_codes": _l("Empty: any"),
                           "delay_hours": _l("Hours after the ticket closes that the callback is due")}
    add_form_extra_fields = edit_form_extra_fields = {
        "types": choice_list(_l("Ticket types"), choices.TYPES),
        "categories": choice_list(_l("Categories"), choices.CATEGORIES),
        "priorities": choice_list(_l("Priorities"), choices.PRIORITIES),
        "resolution_codes": choice_list(_l("Resolution codes"), choices.RESOLUTION_CODES),
    }
    formatters_columns = {"types": labels_of(choices.TYPES), "categories": labels_of(choices.CATEGORIES),
                          "priorities": labels_of(choices.PRIORITIES),
                          "resolution_codes": labels_of(choices.RESOLUTION_CODES)}


class CallbackInterface(ScopedInterface):
    """Callbacks with no order chosen: the current user's open ones first, then by due time."""

    def apply_order_by(self, query, order_column, order_direction, *args, **kwargs):
        if order_column or self.obj is not CallbackTask:
            return super().apply_order_by(query, order_column, order_direction, *args, **kwargs)
        me = getattr(current_user_obj(), "id", None) or -1
        mine_open = case((and_(CallbackTask.assignee_id == me, CallbackTask.status == "open"), 0), else_=1)
        still_open = case((CallbackTask.status == "open", 0), else_=1)
        return query.order_by(mine_open, still_open, CallbackTask.due_at, CallbackTask.id)


def _status_text(code):
    return str(CALLBACK_STATUSES.get(code, code or ""))


def _outcome_text(code):
    return str(CALLBACK_OUTCOMES.get(code, code or ""))




class CallbackTaskView(ScopedModelView):
    template_folder = TEMPLATE_FOLDER
    route_base = "/tickets/callbacks"
    datamodel = CallbackInterface(CallbackTask)
    entity_label, entity_label_plural = _l("Callback"), _l("Callbacks")
    base_permissions = ["can_list", "can_show", "can_attempt"]
    method_permission_name = {"record_attempt": "attempt"}
    list_columns = ["due_at", "ticket", "customer", "assignee", "status", "attempts", "outcome", "franchise"]
    show_columns = ["ticket", "customer", "assignee", "due_at", "status", "attempts", "outcome", "note",
                    "call_record_url", "done_at", "created_at", "franchise"]
    search_columns = ["status", "outcome", "due_at", "franchise"]
    order_columns = ["due_at", "status", "attempts"]
    label_columns = {"due_at": _l("Due"), "ticket": _l("Ticket"), "customer": _l("Customer"),
                     "assignee": _l("Agent"), "status": _l("Status"), "attempts": _l("Attempts"),
                     "outcome": _l("Outcome"), "note": _l("Note"), "call_record_url": _l("Call recording"),
                     "done_at": _l("Done"), "created_at": _l("Created"), "franchise": _l("Franchise")}
    search_form_extra_fields = {
        "status": SelectField(choices=lambda: [("", "—")] + [(k, str(v)) for k, v in CALLBACK_STATUSES.items()],
                              widget=Select2Widget(), validators=[wtv.Optional()]),
        "outcome": SelectField(choices=lambda: [("", "—")] + [(k, str(v)) for k, v in CALLBACK_OUTCOMES.items()],
                               widget=Select2Widget(), validators=[wtv.Optional()]),
    }
    formatters_columns = {"status": _status_text, "outcome": _outcome_text}

    @action("record_attempt", _l("Record a call"), None, "fa-phone", multiple=False)
    def record_attempt(self, item):
        item = item[0] if isinstance(item, list) else item
        return redirect(url_for(".attempt", pk=item.id))

    def _task_or_404(self, pk) -> CallbackTask:
        query = select(CallbackTask).where(CallbackTask.id == pk)
        condition = scope_criterion(CallbackTask)
        task = db.session.scalars(query if condition is None else query.where(condition)).first()
        if task is None:
            abort(404)
        return task

    @expose("/attempt/<int:pk>", methods=["GET", "POST"])
    @has_access
    @permission_name("attempt")
    def attempt(self, pk):
        task = self._task_or_404(pk)
        error, values = None, {}
        if request.method == "POST":
            values = request.form
            try:
                service.record_attempt(task, values.get("outcome", ""), values.get("note"), current_user_obj(),
                                       call_record_url=values.get("call_record_url"))
                db.session.commit()
            except TicketError as exc:
                db.session.rollback()
                task = self._task_or_404(pk)
                error = f"{exc.field}: {exc.problem}"
            else:
                flash(_("Call recorded."), "success")
                return redirect(url_for(".list"))
        page = self.render_template(
            "tickets/followup/attempt.html", task=task, error=error, values=values,
            statuses={k: str(v) for k, v in CALLBACK_STATUSES.items()},
            outcomes={k: str(v) for k, v in CALLBACK_OUTCOMES.items()},
            t={"title": _("Callback"), "customer": _("Customer"), "due": _("Due"), "attempts": _("Attempts"),
               "status": _("Status"), "outcome": _("Outcome"), "note": _("Note"),
               "recording": _("Call recording link"), "save": _("Save"), "back": _("Back")})
        return page, 422 if error else 200


def add_views(appbuilder, category) -> None:
    add_view(appbuilder, CallbackTaskView, CALLBACKS_MENU, _l("Callbacks"), "fa-phone")
    add_view(appbuilder, CallbackRuleView, RULES_MENU, _l("Callback rules"), "fa-retweet")


RULE_WRITE = [(p, "CallbackRuleView") for p in ("can_list", "can_show", "can_add", "can_edit", "can_delete")] \
    + [("menu_access", RULES_MENU)]
CALLBACK_WORK = [(p, "CallbackTaskView") for p in ("can_list", "can_show", "can_attempt")] \
    + [("menu_access", CALLBACKS_MENU)]

PERMISSIONS = {
    "Franchise IT": RULE_WRITE,
    "Outlet Manager": RULE_WRITE + CALLBACK_WORK,
    "Frontline Agent": CALLBACK_WORK,
}
