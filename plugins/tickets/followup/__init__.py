"""After a ticket: callbacks by rule, auto-close of resolved tickets, reopen on a customer's reply."""

from core.jobs import PeriodicJob
from plugins.tickets.followup.models import CallbackRule, CallbackTask
from plugins.tickets.followup.views import PERMISSIONS, add_views

MODELS = [CallbackRule, CallbackTask]
PERIODIC_JOBS = [PeriodicJob("auto_close", "plugins.tickets.followup.service:auto_close", cron="17 * * * *")]

__all__ = ["MODELS", "PERIODIC_JOBS", "PERMISSIONS", "add_views"]
