"""SLA: business calendars, policies, due times derived from the timeline, the scan that warns and escalates.

Entry points for the rest of the plugin: `clock.refresh(ticket)` (workflow, after every change that moves a
clock), `scan.scan_sla(franchise_id)` (every minute) and `recompute.recompute_open_tickets(franchise_id)`
(queued by the screens when the configuration changes).
"""

from core.jobs import PeriodicJob
from plugins.tickets.sla.models import BusinessCalendar, CalendarDay, PeakSeason, SlaPolicy
from plugins.tickets.sla.views import PERMISSIONS, add_views

MODELS = [BusinessCalendar, CalendarDay, PeakSeason, SlaPolicy]
PERIODIC_JOBS = [PeriodicJob("sla_scan", "plugins.tickets.sla.scan:scan_sla", interval=60, queue="high")]

__all__ = ["MODELS", "PERIODIC_JOBS", "PERMISSIONS", "add_views"]
