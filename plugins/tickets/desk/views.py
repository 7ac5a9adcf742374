"""The ticket screens agents work in: the ticket list, the ticket page (facts, timeline, actions), and the fast
intake form with its waybill/phone lookup.

Every change on the ticket page is its own POST endpoint with its own permission (reply, note, status,
priority, assign, invite, customer_message); each goes through `plugins.tickets.workflow` or routing, so the
timeline records it. A refused change re-shows the page with the message at its form and changes nothing.
Templates live in `plugins/tickets/templates/tickets/desk/`; the views' blueprints carry that folder (FAB
creates one blueprint per view with the view's `template_folder`), so core never needs to know the plugin.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, jsonify, redirect, request, url_for
from flask_appbuilder.baseviews import expose
from flask_appbuilder.fields import QuerySelectField
from flask_appbuilder.fieldwidgets import Select2Widget
from flask_appbuilder.security.decorators import has_access, permission_name
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import SelectField
from wtforms import validators as wtv

from core.errors import UserInputError
from core.extensions import db
from core.models.choices import as_select
from core.tenancy import current_user_obj
from core.views.base import ScopedModelView
from core.views.customers import staff_in_scope
from plugins.tickets import choices, workflow
from plugins.tickets.claims.models import CLAIM_STATUSES
from plugins.tickets.desk import page
from plugins.tickets.desk.display import STATIC_FOLDER, label, local_time
from plugins.tickets.desk.intake import IntakeError, create_ticket, lookup
from plugins.tickets.desk.intake_form import (CATEGORY_TYPES, custom_form_class, field_errors, read_form,
                                              ticket_franchises)
from plugins.tickets.followup.models import CALLBACK_STATUSES
from plugins.tickets.menu import CATEGORY, CATEGORY_ICON, CATEGORY_LABEL, TEMPLATE_FOLDER
from plugins.tickets.models import Ticket
from plugins.tickets.routing.sharing import ROLES as PARTICIPANT_ROLES
from plugins.tickets.routing.sharing import TicketInterface

LIST_MENU, NEW_MENU = "All tickets", "New ticket"
# the actions of the ticket page: form name -> permission
ACTIONS = {"reply": "reply", "note": "note", "status": "status", "priority": "priority", "assign": "assign",
           "team": "assign", "invite": "invite", "customer_message": "customer_message"}


def _choice_filter(options):
    return SelectField(choices=lambda: as_select(options, blank=True), widget=Select2Widget(),
                       validators=[wtv.Optional()])


def _formatter(kind):
    return lambda code: label(kind, code)


# an invited franchise adds notes and replies; the rest stays with the ticket's owner
OWNER_FORMS = {"status", "priority", "assign", "team", "invite"}


class TicketView(ScopedModelView):
    route_base = "/tickets"
    plugin = "tickets"
    datamodel = TicketInterface(Ticket)
    template_folder = TEMPLATE_FOLDER
    entity_label, entity_label_plural = _l("Ticket"), _l("Tickets")
    # changes go through the ticket page's actions so that the timeline records each of them
    exclude_route_methods = {"edit", "delete", "download", "action", "action_post"}
    list_columns = ["number", "subject", "type", "category", "priority", "status", "customer", "waybill_no", "team",
                    "assignee", "resolution_due", "franchise", "created_at"]
    order_columns = ["created_at", "resolution_due", "priority", "status", "type"]
    base_order = ("created_at", "desc")
    # no customer dropdown (it would load every customer): the customer's id, or the 360 page's ticket panel
    search_columns = ["type", "category", "priority", "status", "channel", "subject", "customer_id", "waybill_no",
                      "team", "assignee", "resolution_due", "franchise", "created_at"]
    label_columns = {"number": _l("Number"), "subject": _l("Subject"), "type": _l("Type"),
                     "category": _l("Category"), "priority": _l("Priority"), "status": _l("Status"),
                     "channel": _l("Channel"), "customer": _l("Customer"), "customer_id": _l("Customer id"),
                     "waybill_no": _l("Waybill number"), "team": _l("Team"), "assignee": _l("Assignee"),
                     "resolution_due": _l("Resolution due"), "franchise": _l("Franchise"),
                     "created_at": _l("Created")}
    search_form_extra_fields = {
        "type": _choice_filter(choices.TYPES), "category": _choice_filter(choices.CATEGORIES),
        "priority": _choice_filter(choices.PRIORITIES), "status": _choice_filter(choices.STATUSES),
        "channel": _choice_filter(choices.CHANNELS),
        # the stock dropdown would list every user of every franchise
        "assignee": QuerySelectField(query_func=staff_in_scope, get_pk_func=lambda user: user.id, allow_blank=True,
                                     widget=Select2Widget(), validators=[wtv.Optional()]),
    }
    formatters_columns = {"type": _formatter("type"), "category": _formatter("category"),
                          "priority": _formatter("priority"), "status": _formatter("status"),
                          "channel": _formatter("channel"), "resolution_due": local_time, "created_at": local_time}

    # --- the list's "add" is the fast form ---------------------------------------------------------------

    @expose("/add", methods=["GET", "POST"])
    @has_access
    def add(self):
        return redirect(url_for(".new"))

    @expose("/new", methods=["GET", "POST"])
    @has_access
    @permission_name("add")
    def new(self):
        """The fast intake form: look up by waybill or phone, type the report, Ctrl+Enter."""
        form_class = custom_form_class()
        custom_form = form_class(request.form) if form_class is not None else None
        errors: dict[str, str] = {}
        if request.method == "POST":
            values, errors = read_form(request.form, custom_form)
            if not errors:
                try:
                    result = create_ticket(values, current_user_obj())
                    db.session.commit()
                except IntakeError as exc:
                    db.session.rollback()
                    errors = field_errors(exc.errors)
                except UserInputError as exc:
                    db.session.rollback()
                    errors = {getattr(exc, "field", None) or "form": str(getattr(exc, "problem", exc))}
                else:
                    ticket = result.ticket
                    if result.attached:
                        flash(_("The parcel already had open ticket %(number)s: the report was added to it.",
                                number=ticket.number), "info")
                    else:
                        flash(_("Ticket %(number)s created.", number=ticket.number), "success")
                    return redirect(url_for(".show", pk=ticket.id))
        return self.render_template(
            "tickets/desk/new.html", form=request.form, errors=errors, custom_form=custom_form,
            franchises=ticket_franchises(), choices=choices, as_select=as_select, category_types=CATEGORY_TYPES,
            title=_("New ticket"))

    @expose("/lookup", methods=["GET"])
    @has_access
    @permission_name("add")
    def lookup(self):
        """JSON for the fast form: parcels and customers of a waybill or phone, and the parcel's open ticket."""
        waybill = (request.args.get("waybill") or "").strip() or None
        phone = (request.args.get("phone") or "").strip() or None
        if not waybill and not phone:
            return jsonify(message={"waybill": [_("a waybill number or a phone number is required")]}), 400
        found = lookup(waybill_no=waybill, phone=phone)
        if found.get("open_ticket"):
            found["open_ticket"]["url"] = url_for(".show", pk=found["open_ticket"]["id"])
        return jsonify(found)

    # --- the ticket page -----------------------------------------------------------------------------------

    @expose("/show/<int:pk>", methods=["GET"])
    @has_access
    def show(self, pk):
        return self._render_page(self._ticket(pk))

    def _ticket(self, pk) -> Ticket:
        ticket = self.datamodel.get(pk, self._base_filters)
        if ticket is None:
            abort(404)  # out of scope tickets are absent, not forbidden
        return ticket

    def _allowed(self) -> dict[str, bool]:
        sm = self.appbuilder.sm
        return {form: sm.has_access(f"can_{permission}", self.class_permission_name)
                for form, permission in ACTIONS.items()}

    def _render_page(self, ticket: Ticket, errors: dict | None = None, entered=None, status: int = 200):
        return self.render_template(
            "tickets/desk/ticket.html", ticket=ticket, label=label, local_time=local_time,
            dues=page.sla_dues(ticket), regulatory=page.regulatory_due(ticket),
            reporter=page.reporter_facts(ticket), timeline=page.timeline(ticket),
            next_statuses=page.next_statuses(ticket), members=page.team_members(ticket),
            teams=page.teams_of(ticket), franchises=page.invitable_franchises(ticket),
            participants=page.participants(ticket), participant_roles=PARTICIPANT_ROLES, choices=choices,
            claim_statuses=CLAIM_STATUSES, callback_statuses=CALLBACK_STATUSES,
            suggested=page.suggested_replies(ticket, current_user_obj()),
            allowed=self._allowed(), errors=errors or {}, entered=entered or {},
            title=f"{ticket.number} {ticket.subject}"), status

    def _act(self, pk, form: str, change, done: str):
        """Run one change of the ticket page: commit and go back with a flash, or show the refusal at its form
        with nothing changed."""
        ticket = self._ticket(pk)
        try:
            if form in OWNER_FORMS:
                workflow.require_owner(ticket, form)
            change(ticket, current_user_obj())
            db.session.commit()
        except UserInputError as exc:
            db.session.rollback()
            field = getattr(exc, "field", None) or "form"
            message = str(getattr(exc, "problem", None) or exc)
            return self._render_page(self._ticket(pk), errors={form: {field: message}}, entered=request.form)
        flash(done, "success")
        return redirect(self._back(pk))

    @staticmethod
    def _back(pk):
        target = request.form.get("next") or ""
        if target.startswith("/") and not target.startswith("//"):
            return target
        return url_for(".show", pk=pk)

    @expose("/<int:pk>/reply", methods=["POST"])
    @has_access
    @permission_name("reply")
    def reply(self, pk):
        return self._act(pk, "reply", lambda t, u: workflow.reply(t, u, request.form.get("body")),
                         _("Reply sent to the customer."))

    @expose("/<int:pk>/note", methods=["POST"])
    @has_access
    @permission_name("note")
    def note(self, pk):
        return self._act(pk, "note", lambda t, u: workflow.note(t, u, request.form.get("body")),
                         _("Internal note added."))

    @expose("/<int:pk>/status", methods=["POST"])
    @has_access
    @permission_name("status")
    def status(self, pk):
        def change(ticket, user):
            workflow.change_status(ticket, request.form.get("status") or "", user,
                                   resolution_code=request.form.get("resolution_code") or None,
                                   note=(request.form.get("note") or "").strip() or None)

        return self._act(pk, "status", change, _("Status changed."))

    @expose("/<int:pk>/priority", methods=["POST"])
    @has_access
    @permission_name("priority")
    def priority(self, pk):
        return self._act(pk, "priority", lambda t, u: workflow.set_priority(
            t, request.form.get("priority") or "", u, reason=(request.form.get("reason") or "").strip() or None),
            _("Priority changed."))

    @expose("/<int:pk>/assign", methods=["POST"])
    @has_access
    @permission_name("assign")
    def assign(self, pk):
        from plugins.tickets.routing.assign import assign_to

        def change(ticket, user):
            assignee_id = _int(request.form.get("user_id"))
            if assignee_id is None:
                raise workflow.TicketError("assignee", _("choose a member of the team"))
            assign_to(ticket, assignee_id, by=user)

        return self._act(pk, "assign", change, _("Ticket assigned."))

    @expose("/<int:pk>/team", methods=["POST"])
    @has_access
    @permission_name("assign")
    def team(self, pk):
        from plugins.tickets.routing.assign import move_to_team

        def change(ticket, user):
            team_id = _int(request.form.get("team_id"))
            if team_id is None:
                raise workflow.TicketError("team", _("choose a team of the ticket's franchise"))
            move_to_team(ticket, team_id, user)

        return self._act(pk, "team", change, _("Ticket moved to the team."))

    @expose("/<int:pk>/invite", methods=["POST"])
    @has_access
    @permission_name("invite")
    def invite(self, pk):
        from plugins.tickets.routing.sharing import invite

        def change(ticket, user):
            franchise_id = _int(request.form.get("franchise_id"))
            if franchise_id is None:
                raise workflow.TicketError("franchise_id", _("choose a franchise"))
            invite(ticket, franchise_id, user)  # the role is the franchise's place on the parcel's route

        return self._act(pk, "invite", change, _("Franchise invited to the ticket."))

    @expose("/<int:pk>/customer_message", methods=["POST"])
    @has_access
    @permission_name("customer_message")
    def customer_message(self, pk):
        def change(ticket, user):
            body = (request.form.get("body") or "").strip()
            if not body:
                raise workflow.TicketError("body", _("required"))
            channel = request.form.get("channel") or None
            if channel is not None and channel not in choices.CHANNELS:
                raise workflow.TicketError("channel", _("not one of: %(values)s",
                                                        values=", ".join(choices.CHANNELS)))
            workflow.customer_reply(ticket, body, channel)

        return self._act(pk, "customer_message", change, _("Customer message recorded."))


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


# --- registration ----------------------------------------------------------------------------------------


def add_views(appbuilder, category) -> None:
    from plugins.tickets.desk.queues import ALERTS_MENU, MINE_MENU, TEAM_MENU, TicketQueueView

    app = current_app  # create_app registers views inside its app context
    if "tickets_desk_static" not in app.blueprints:
        # the desk's script and styles, served by the app itself (no CDN)
        app.register_blueprint(Blueprint("tickets_desk_static", __name__, static_folder=STATIC_FOLDER,
                                         static_url_path="/tickets-static/desk"))
    tickets = _add_view(appbuilder, TicketView, LIST_MENU, _l("Tickets"), "fa-ticket")
    _add_link(appbuilder, NEW_MENU, _l("New ticket"), "fa-plus", "TicketView.new", tickets)
    queues = _add_view(appbuilder, TicketQueueView, MINE_MENU, _l("My tickets"), "fa-inbox")
    _add_link(appbuilder, TEAM_MENU, _l("Team queue"), "fa-users", "TicketQueueView.team", queues)
    _add_link(appbuilder, ALERTS_MENU, _l("My alerts"), "fa-bell", "TicketQueueView.alerts", queues)


def _add_view(appbuilder, view, name, label_, icon):
    # as plugins.tickets.menu.add_view, keeping the view instance the links below name
    return appbuilder.add_view(view, name, label=label_, icon=icon, category=CATEGORY,
                               category_label=CATEGORY_LABEL, category_icon=CATEGORY_ICON)


def _add_link(appbuilder, name, label_, icon, endpoint, view) -> None:
    # the view is named so that the menu item disappears with the plugin, as its view's items do
    appbuilder.add_link(name, href=endpoint, icon=icon, label=label_, category=CATEGORY,
                        category_icon=CATEGORY_ICON, category_label=CATEGORY_LABEL, baseview=view)


_READ = [("can_list", "TicketView"), ("can_show", "TicketView"), ("menu_access", LIST_MENU)]
_WORK = _READ + [(f"can_{p}", "TicketView") for p in
                 ("add", "reply", "note", "status", "priority", "assign", "invite", "customer_message")] + [
    ("menu_access", NEW_MENU), ("can_mine", "TicketQueueView"), ("can_team", "TicketQueueView"),
    ("can_alerts", "TicketQueueView"), ("menu_access", "My tickets"), ("menu_access", "Team queue"),
    ("menu_access", "My alerts")]
PERMISSIONS = {
    "Frontline Agent": list(_WORK),
    "Outlet Manager": _WORK + [("can_export", "TicketView")],
    "Account Manager": _READ + [("can_note", "TicketView")],
    "Franchise IT": list(_READ),
}
