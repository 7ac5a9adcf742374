"""Screens: business calendars (the week typed as text), calendar days (holidays, 调休), peak seasons and
SLA policies. Every save re-checks the values (the model's `validation_errors`) and queues the recompute
of the franchise's open tickets in the same transaction."""

from __future__ import annotations

from flask_appbuilder.fieldwidgets import Select2Widget
from flask_babel import lazy_gettext as _l
from sqlalchemy import update
from wtforms import SelectField, StringField, TextAreaField
from wtforms import validators as wtv

from core.extensions import db
from core.models.choices import as_select, label
from core.tenancy import ScopedInterface
from core.views.base import ScopedModelView, timestamp
from plugins.tickets import choices
from plugins.tickets.child_rows import InParentFranchise
from plugins.tickets.conditions import choice_list, labels_of, text_list
from plugins.tickets.menu import add_view
from plugins.tickets.models import Ticket
from plugins.tickets.sla.calendar import (CalendarError, parse_periods, periods_json, periods_text, week_from_text,
                                          week_text)
from plugins.tickets.sla.models import DAY_KINDS, BusinessCalendar, CalendarDay, PeakSeason, SlaPolicy
from plugins.tickets.sla.recompute import schedule_recompute

CALENDARS_MENU = "Business calendars"
DAYS_MENU = "Calendar days"
PEAKS_MENU = "Peak seasons"
POLICIES_MENU = "SLA policies"



# --- fields ---------------------------------------------------------------------------------------------

class WeekField(TextAreaField):
    """The week as text, one line per weekday: "1 09:00-12:00,13:00-18:00" (1 = Monday .. 7 = Sunday)."""

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        return week_text(self.data) if isinstance(self.data, dict) else (self.data or "")

    def process_formdata(self, valuelist):
        if valuelist:
            try:
                self.data = week_from_text(valuelist[0])
            except CalendarError as exc:
                self.data = None
                raise ValueError(str(exc)) from None


class PeriodsField(StringField):
    """A day's periods typed as "09:00-12:00, 13:00-18:00"; empty is stored as None."""

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        try:
            return periods_text(parse_periods(self.data))
        except CalendarError:
            return ""

    def process_formdata(self, valuelist):
        if valuelist:
            try:
                self.data = periods_json(parse_periods(valuelist[0])) or None
            except CalendarError as exc:
                self.data = None
                raise ValueError(str(exc)) from None


# --- screens ----------------------------------------------------------------------------------------------

class RecomputesOnChange:
    """Any change of SLA configuration queues the recompute of the franchise's open tickets (same transaction:
    no change without its recompute, no recompute of a change that was refused)."""

    def pre_add(self, item):
        super().pre_add(item)
        schedule_recompute(item.franchise_id)

    def pre_update(self, item):
        super().pre_update(item)
        schedule_recompute(item.franchise_id)

    def pre_delete(self, item):
        super().pre_delete(item)
        schedule_recompute(item.franchise_id)


class BusinessCalendarView(RecomputesOnChange, ScopedModelView):
    route_base = "/tickets/sla/calendars"
    datamodel = ScopedInterface(BusinessCalendar)
    plugin = "tickets"
    entity_label, entity_label_plural = _l("Business calendar"), _l("Business calendars")
    list_columns = ["name", "timezone", "week", "is_default", "franchise"]
    show_columns = ["name", "timezone", "week", "is_default", "franchise", "updated_at"]
    add_columns = edit_columns = ["name", "timezone", "week", "is_default", "franchise"]
    search_columns = ["name", "is_default", "franchise"]
    order_columns = ["name"]
    base_order = ("name", "asc")
    label_columns = {"name": _l("Name"), "timezone": _l("Time zone"), "week": _l("Working hours"),
                     "is_default": _l("Default calendar"), "franchise": _l("Franchise"), "updated_at": _l("Updated")}
    description_columns = {
        "week": _l("One line per weekday, 1 = Monday .. 7 = Sunday, then its periods: "
                   "'1 09:00-12:00,13:00-18:00' (a lunch break is the gap). A day left out has no working time."),
        "timezone": _l("The periods are local times of this zone, e.g. Asia/Shanghai"),
        "is_default": _l("Used by SLA policies and teams that name no calendar"),
    }
    add_form_extra_fields = edit_form_extra_fields = {
        "week": WeekField(_l("Working hours"), render_kw={"rows": 7}, validators=[wtv.InputRequired()]),
    }
    formatters_columns = {"week": lambda week: week_text(week).replace("\n", "; "), "updated_at": timestamp}

    def pre_delete(self, item):
        super().pre_delete(item)
        # policies and teams naming it fall back to the default calendar (or 24x7) instead of refusing
        db.session.execute(update(SlaPolicy).where(SlaPolicy.calendar_id == item.id).values(calendar_id=None))
        from plugins.tickets.routing.models import Team

        db.session.execute(update(Team).where(Team.calendar_id == item.id).values(calendar_id=None))


class CalendarDayView(InParentFranchise, RecomputesOnChange, ScopedModelView):
    route_base = "/tickets/sla/calendar-days"
    datamodel = ScopedInterface(CalendarDay)
    plugin = "tickets"
    entity_label, entity_label_plural = _l("Calendar day"), _l("Calendar days")
    list_columns = ["calendar", "day", "kind", "hours", "name"]
    show_columns = ["calendar", "day", "kind", "hours", "name", "franchise"]
    add_columns = edit_columns = ["calendar", "day", "kind", "hours", "name"]
    search_columns = ["calendar", "day", "kind", "name", "franchise"]
    order_columns = ["day", "kind"]
    base_order = ("day", "desc")
    label_columns = {"calendar": _l("Calendar"), "day": _l("Date"), "kind": _l("Day type"),
                     "hours": _l("Working hours"), "name": _l("Name"), "franchise": _l("Franchise")}
    description_columns = {
        "kind": _l("A holiday has no working time; a make-up working day (调休) is worked although the week "
                   "pattern says it is off"),
        "hours": _l("Make-up working days only: '09:00-12:00, 13:00-18:00'; empty = Monday's hours"),
        "name": _l("e.g. 国庆节, 春节调休"),
    }
    add_form_extra_fields = edit_form_extra_fields = {
        "kind": SelectField(_l("Day type"), choices=lambda: as_select(DAY_KINDS), widget=Select2Widget(),
                            validators=[wtv.InputRequired()]),
        "hours": PeriodsField(_l("Working hours"), validators=[wtv.Optional()]),
    }
    search_form_extra_fields = {"kind": SelectField(choices=lambda: as_select(DAY_KINDS, blank=True),
                                                    widget=Select2Widget(), validators=[wtv.Optional()])}
    formatters_columns = {"kind": lambda code: label(DAY_KINDS, code),
                          "hours": lambda hours: periods_text(parse_periods(hours)) if hours else ""}

    parent = "calendar"


class PeakSeasonView(RecomputesOnChange, ScopedModelView):
    route_base = "/tickets/sla/peak-seasons"
    datamodel = ScopedInterface(PeakSeason)
    plugin = "tickets"
    entity_label, entity_label_plural = _l("Peak season"), _l("Peak seasons")
    list_columns = ["name", "starts_at", "ends_at", "factor", "franchise"]
    show_columns = add_columns = edit_columns = ["name", "starts_at", "ends_at", "factor", "franchise"]
    search_columns = ["name", "starts_at", "franchise"]
    order_columns = ["starts_at", "name"]
    base_order = ("starts_at", "desc")
    label_columns = {"name": _l("Name"), "starts_at": _l("Starts (UTC)"), "ends_at": _l("Ends (UTC)"),
                     "factor": _l("Target factor"), "franchise": _l("Franchise")}
    description_columns = {
        "starts_at": _l("UTC: Beijing time minus 8 hours. Tickets created from here to the end get relaxed targets"),
        "factor": _l("Targets are multiplied by it: 2 = twice the time (e.g. 双11)"),
    }


class SlaPolicyView(RecomputesOnChange, ScopedModelView):
    route_base = "/tickets/sla/policies"
    datamodel = ScopedInterface(SlaPolicy)
    plugin = "tickets"
    entity_label, entity_label_plural = _l("SLA policy"), _l("SLA policies")
    list_columns = ["position", "name", "active", "types", "priorities", "tiers", "channels",
                    "first_response_minutes", "resolution_minutes", "calendar", "franchise"]
    show_columns = ["name", "position", "active", "types", "priorities", "tiers", "channels",
                    "first_response_minutes", "resolution_minutes", "calendar", "warn_before_minutes",
                    "escalate_raise_priority", "escalate_to_team", "notify_lead", "franchise", "updated_at"]
    add_columns = edit_columns = ["name", "position", "active", "types", "priorities", "tiers", "channels",
                                  "first_response_minutes", "resolution_minutes", "calendar", "warn_before_minutes",
                                  "escalate_raise_priority", "escalate_to_team", "notify_lead", "franchise"]
    search_columns = ["name", "active", "franchise"]
    order_columns = ["position", "name"]
    base_order = ("position", "asc")
    label_columns = {"name": _l("Name"), "position": _l("Order"), "active": _l("Active"), "types": _l("Types"),
                     "priorities": _l("Priorities"), "tiers": _l("Customer tiers"), "channels": _l("Channels"),
                     "first_response_minutes": _l("First response (business minutes)"),
                     "resolution_minutes": _l("Resolution (business minutes)"), "calendar": _l("Calendar"),
                     "warn_before_minutes": _l("Warn before (minutes)"),
                     "escalate_raise_priority": _l("On breach: raise the priority"),
                     "escalate_to_team": _l("On breach: move to team"),
                     "notify_lead": _l("On breach: alert the team lead"), "franchise": _l("Franchise"),
                     "updated_at": _l("Updated")}
    description_columns = {
        "position": _l("Lowest first: the first active policy whose conditions all match applies"),
        "types": _l("Empty = any"), "priorities": _l("Empty = any"), "channels": _l("Empty = any"),
        "tiers": _l("Tier codes of the tiering plugin, e.g. 'A, B'; empty = any"),
        "first_response_minutes": _l("Counted in the calendar's working time: 120 = 2 working hours; "
                                     "a working day of 8 hours is 480"),
        "resolution_minutes": _l("e.g. 3 working days of 8 hours = 1440"),
        "calendar": _l("Empty: the ticket team's calendar, else the default calendar, else around the clock"),
        "escalate_to_team": _l("The ticket leaves its agent and is dispatched again in that team"),
    }
    add_form_extra_fields = edit_form_extra_fields = {
        "types": choice_list(_l("Types"), choices.TYPES),
        "priorities": choice_list(_l("Priorities"), choices.PRIORITIES),
        "channels": choice_list(_l("Channels"), choices.CHANNELS),
        "tiers": text_list(_l("Customer tiers")),
    }
    formatters_columns = {"types": labels_of(choices.TYPES), "priorities": labels_of(choices.PRIORITIES),
                          "channels": labels_of(choices.CHANNELS),
                          "tiers": lambda values: ", ".join(values or []) or str(_l("any")),
                          "updated_at": timestamp}

    def pre_delete(self, item):
        super().pre_delete(item)
        # tickets let go of it; the recompute queued with this change chooses their policy again
        db.session.execute(update(Ticket).where(Ticket.sla_policy_id == item.id).values(sla_policy_id=None))


def add_views(appbuilder, category) -> None:
    add_view(appbuilder, SlaPolicyView, POLICIES_MENU, _l("SLA policies"), "fa-hourglass-half")
    add_view(appbuilder, BusinessCalendarView, CALENDARS_MENU, _l("Business calendars"), "fa-calendar")
    add_view(appbuilder, CalendarDayView, DAYS_MENU, _l("Calendar days"), "fa-calendar-times-o")
    add_view(appbuilder, PeakSeasonView, PEAKS_MENU, _l("Peak seasons"), "fa-line-chart")


_VIEWS = {"SlaPolicyView": POLICIES_MENU, "BusinessCalendarView": CALENDARS_MENU, "CalendarDayView": DAYS_MENU,
          "PeakSeasonView": PEAKS_MENU}
READ = [perm for view, menu in _VIEWS.items()
        for perm in (("can_list", view), ("can_show", view), ("menu_access", menu))]
MANAGE = READ + [(perm, view) for view in _VIEWS for perm in ("can_add", "can_edit", "can_delete")]
PERMISSIONS = {"Franchise IT": MANAGE, "Outlet Manager": READ}
