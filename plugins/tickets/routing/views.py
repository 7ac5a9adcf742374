"""Screens: teams with their members, dispatch rules (first match wins), and "My availability" where an
agent marks themselves away or back (coming back hands out the team's unassigned backlog)."""

from __future__ import annotations

import re

from flask import abort, flash, redirect, request, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.fields import QuerySelectField
from flask_appbuilder.security.decorators import has_access, permission_name
from flask_appbuilder.security.sqla.models import User
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from wtforms import SelectField
from wtforms import validators as wtv

from core.errors import UserInputError
from core.extensions import db
from core.models.choices import as_select, label
from core.tenancy import ScopedInterface, current_scope, current_user_obj, scope_criterion, user_franchise
from core.views.base import ScopedModelView
from plugins.tickets import choices
from plugins.tickets.child_rows import InParentFranchise
from plugins.tickets.conditions import choice_list, labels_of, text_list
from plugins.tickets.menu import TEMPLATE_FOLDER, add_view
from plugins.tickets.models import Ticket
from plugins.tickets.routing.backlog import set_away
from plugins.tickets.routing.models import ASSIGNMENT_METHODS, DispatchRule, Team, TeamMember
from plugins.tickets.routing.permissions import AVAILABILITY_MENU, MEMBERS_MENU, RULES_MENU, TEAMS_MENU
from plugins.tickets.sla.models import SlaPolicy

def plain_list(values):
    return ", ".join(str(v) for v in values or [])


def _scope_users_query(franchise_ids=None):
    """Active users of the franchises the current user sees (narrowed to `franchise_ids` when given)."""
    query = select(User).where(User.active.is_(True)).order_by(User.username)
    scope = current_scope()
    condition = scope.criterion(user_franchise.c.franchise_id)
    if franchise_ids is not None:
        allowed = [f for f in franchise_ids if scope.allows(f)]
        condition = user_franchise.c.franchise_id.in_(allowed)
    if condition is not None:
        query = query.where(User.id.in_(select(user_franchise.c.user_id).where(condition)))
    return query


def _form_franchise():
    """The franchise the open form is about: the edited row's, or the team's of a "add member" link."""
    pk = (request.view_args or {}).get("pk")
    if pk is not None and request.endpoint and request.endpoint.startswith("TeamMemberView."):
        member = ScopedInterface(TeamMember).get(pk)
        return member.franchise_id if member is not None else None
    if pk is not None and request.endpoint and request.endpoint.startswith("TeamView."):
        team = ScopedInterface(Team).get(pk)
        return team.franchise_id if team is not None else None
    for key, value in request.args.items():
        if re.fullmatch(r"_flt_\d_team", key) and value.isdigit():
            team = ScopedInterface(Team).get(int(value))
            return team.franchise_id if team is not None else None
    return None


def franchise_users():
    """The user dropdown of teams and members: users of the row's franchise, or of the user's scope."""
    franchise_id = _form_franchise()
    return db.session.scalars(_scope_users_query(None if franchise_id is None else [franchise_id])).all()


def user_select(label_text, required: bool):
    return QuerySelectField(label_text, query_func=franchise_users, get_pk_func=lambda user: user.id,
                            allow_blank=not required,
                            validators=[wtv.InputRequired()] if required else [wtv.Optional()])


# --- teams ----------------------------------------------------------------------------------------------

class TeamMemberView(InParentFranchise, ScopedModelView):
    route_base = "/tickets/team-members"
    datamodel = ScopedInterface(TeamMember)
    entity_label, entity_label_plural = _l("Team member"), _l("Team members")
    list_columns = ["user", "team", "away", "max_open", "active", "last_assigned_at"]
    show_columns = ["user", "team", "away", "max_open", "active", "last_assigned_at", "joined_at", "franchise"]
    add_columns = edit_columns = ["team", "user", "away", "max_open", "active"]
    search_columns = ["team", "user", "away", "active", "franchise"]
    order_columns = ["team", "away", "last_assigned_at"]
    base_order = ("team_id", "asc")
    label_columns = {"user": _l("Agent"), "team": _l("Team"), "away": _l("Away"), "max_open": _l("Open ticket cap"),
                     "active": _l("Active"), "last_assigned_at": _l("Last assigned"), "joined_at": _l("Joined"),
                     "franchise": _l("Franchise")}
    description_columns = {"max_open": _l("Empty: the team's cap"),
                           "away": _l("Away members get no new tickets; coming back hands out the backlog")}
    add_form_extra_fields = edit_form_extra_fields = {"user": user_select(_l("Agent"), required=True)}

    parent = "team"


class TeamView(ScopedModelView):
    route_base = "/tickets/teams"
    datamodel = ScopedInterface(Team)
    entity_label, entity_label_plural = _l("Team"), _l("Teams")
    list_columns = ["name", "lead", "assignment", "max_open_per_agent", "calendar", "active", "franchise"]
    show_columns = list_columns
    add_columns = edit_columns = ["name", "lead", "assignment", "max_open_per_agent", "calendar", "active",
                                  "franchise"]
    search_columns = ["name", "lead", "assignment", "active", "franchise"]
    order_columns = ["name", "assignment"]
    base_order = ("name", "asc")
    related_views = [TeamMemberView]
    label_columns = {"name": _l("Name"), "lead": _l("Team lead"), "assignment": _l("Assignment"),
                     "max_open_per_agent": _l("Open tickets per agent"), "calendar": _l("Working hours"),
                     "active": _l("Active"), "franchise": _l("Franchise")}
    description_columns = {
        "assignment": _l("Round robin: the member assigned longest ago; least busy: the fewest open tickets; "
                         "manual: tickets wait in the team's queue"),
        "max_open_per_agent": _l("A member holding this many open tickets is skipped (a member's own cap wins)"),
        "calendar": _l("The SLA clock of the team's tickets counts in these hours"),
    }
    add_form_extra_fields = edit_form_extra_fields = {
        "assignment": SelectField(_l("Assignment"), choices=lambda: as_select(ASSIGNMENT_METHODS),
                                  validators=[wtv.InputRequired()]),
        "lead": user_select(_l("Team lead"), required=False),
    }
    formatters_columns = {"assignment": lambda v: label(ASSIGNMENT_METHODS, v)}

    def pre_delete(self, item):
        super().pre_delete(item)
        # tickets and escalation policies keep pointing at the team: it retires by being made inactive
        in_use = db.session.scalar(select(Ticket.id).where(Ticket.team_id == item.id).limit(1)) or \
            db.session.scalar(select(SlaPolicy.id).where(SlaPolicy.escalate_to_team_id == item.id).limit(1))
        if in_use:
            raise UserInputError(_("Team %(team)s has tickets or escalation policies: make it inactive instead.",
                                   team=item.name))


# --- dispatch rules ---------------------------------------------------------------------------------------

class DispatchRuleView(ScopedModelView):
    route_base = "/tickets/dispatch-rules"
    datamodel = ScopedInterface(DispatchRule)
    entity_label, entity_label_plural = _l("Dispatch rule"), _l("Dispatch rules")
    list_columns = ["position", "name", "types", "categories", "priorities", "channels", "tiers",
                    "district_prefixes", "team", "set_priority", "active", "franchise"]
    show_columns = list_columns
    add_columns = edit_columns = ["name", "position", "active", "types", "categories", "priorities", "channels",
                                  "tiers", "district_prefixes", "team", "set_priority", "franchise"]
    search_columns = ["name", "team", "active", "franchise"]
    order_columns = ["position", "name"]
    base_order = ("position", "asc")
    label_columns = {"position": _l("Order"), "name": _l("Name"), "types": _l("Types"),
                     "categories": _l("Categories"), "priorities": _l("Priorities"), "channels": _l("Channels"),
                     "tiers": _l("Customer tiers"), "district_prefixes": _l("Districts"), "team": _l("Team"),
                     "set_priority": _l("Set priority"), "active": _l("Active"), "franchise": _l("Franchise")}
    description_columns = {
        "position": _l("Rules are tried from the lowest number up; the first whose conditions all match wins"),
        "types": _l("Nothing chosen: any"),
        "tiers": _l("Comma separated, e.g. A, B; empty: any"),
        "district_prefixes": _l("Comma separated GB/T 2260 codes of 2, 4 or 6 digits (33 = Zhejiang, "
                                "3301 = Hangzhou); the ticket's district starts with one of them; empty: any"),
        "set_priority": _l("Optional: the priority a matching ticket gets"),
    }
    add_form_extra_fields = edit_form_extra_fields = {
        "types": choice_list(_l("Types"), choices.TYPES),
        "categories": choice_list(_l("Categories"), choices.CATEGORIES),
        "priorities": choice_list(_l("Priorities"), choices.PRIORITIES),
        "channels": choice_list(_l("Channels"), choices.CHANNELS),
        "tiers": text_list(_l("Customer tiers")),
        "district_prefixes": text_list(_l("Districts")),
        "set_priority": SelectField(_l("Set priority"), choices=lambda: as_select(choices.PRIORITIES, blank=True),
                                    validators=[wtv.Optional()]),
    }
    formatters_columns = {"types": labels_of(choices.TYPES), "categories": labels_of(choices.CATEGORIES),
                          "priorities": labels_of(choices.PRIORITIES), "channels": labels_of(choices.CHANNELS),
                          "tiers": plain_list, "district_prefixes": plain_list,
                          "set_priority": lambda v: label(choices.PRIORITIES, v)}

    def pre_add(self, item):
        item.set_priority = item.set_priority or None
        super().pre_add(item)

    def pre_update(self, item):
        item.set_priority = item.set_priority or None
        super().pre_update(item)


# --- my availability --------------------------------------------------------------------------------------



def my_memberships(user_id: int):
    """The current user's active memberships in franchises of their scope, grouped by franchise."""
    query = (select(TeamMember).join(Team, Team.id == TeamMember.team_id)
             .where(TeamMember.user_id == user_id, TeamMember.active.is_(True), Team.active.is_(True))
             .order_by(TeamMember.franchise_id, Team.name))
    condition = scope_criterion(TeamMember)
    if condition is not None:
        query = query.where(condition)
    grouped: dict = {}
    for member in db.session.scalars(query):
        grouped.setdefault(member.franchise, []).append(member)
    return list(grouped.items())


class MyAvailabilityView(BaseView):
    template_folder = TEMPLATE_FOLDER
    route_base = "/tickets/my-availability"
    default_view = "page"

    @expose("/")
    @has_access
    @permission_name("availability")
    def page(self):
        user = current_user_obj()
        texts = {"title": _("My availability"), "none": _("You are not a member of any team."),
                 "team": _("Team"), "state": _("Status"), "away": _("Away"), "present": _("Available"),
                 "back": _("I am back"), "go_away": _("Mark me away")}
        return self.render_template("tickets/routing/availability.html", rows=my_memberships(user.id), t=texts)

    @expose("/change", methods=["POST"])
    @has_access
    @permission_name("availability")
    def change(self):
        user = current_user_obj()
        franchise_id = request.form.get("franchise_id", type=int)
        away = request.form.get("away") == "1"
        if franchise_id is None or franchise_id not in {f.id for f, _members in my_memberships(user.id)}:
            abort(404)
        given = set_away(user.id, franchise_id, away, by=user)
        db.session.commit()
        if away:
            flash(_("You are marked away: no new tickets are assigned to you."), "info")
        else:
            flash(_("Welcome back. %(count)d ticket(s) of the teams' backlog were assigned.", count=given),
                  "success")
        return redirect(url_for(".page"))


def add_views(appbuilder, category) -> None:
    add_view(appbuilder, TeamView, TEAMS_MENU, _l("Teams"), "fa-users")
    add_view(appbuilder, TeamMemberView, MEMBERS_MENU, _l("Team members"), "fa-user")
    add_view(appbuilder, DispatchRuleView, RULES_MENU, _l("Dispatch rules"), "fa-random")
    add_view(appbuilder, MyAvailabilityView, AVAILABILITY_MENU, _l("My availability"), "fa-toggle-on")
