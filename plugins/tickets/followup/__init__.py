"""After a ticket: callbacks by rule, auto-close of resolved tickets, reopen on a customer's reply."""

from plugins.tickets.followup.models import CallbackRule, CallbackTask

MODELS = [CallbackRule, CallbackTask]
