"""SLA: business calendars, policies, due times derived from the timeline, the scan that warns and escalates."""

from plugins.tickets.sla.models import BusinessCalendar, CalendarDay, PeakSeason, SlaPolicy

MODELS = [BusinessCalendar, CalendarDay, PeakSeason, SlaPolicy]
