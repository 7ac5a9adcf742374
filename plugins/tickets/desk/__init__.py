"""The service desk itself: ticket intake, the ticket page and its timeline, the agents' queues and the API."""

from __future__ import annotations

from plugins.tickets.desk import views as screens
from plugins.tickets.desk.exceptions import on_domain_event
from plugins.tickets.desk.subject_rights import customer_data, erase_customer
from plugins.tickets.models import AgentAlert, ExceptionTicketLink, Ticket, TicketEvent, TicketParticipant

MODELS = [Ticket, TicketEvent, TicketParticipant, ExceptionTicketLink, AgentAlert]
CUSTOM_FIELD_TARGETS = [Ticket]
_API = "TicketApi"
PERMISSIONS: dict = {
    "Frontline Agent": [("can_post", _API), ("can_get", _API), ("can_put", _API)],
    "Outlet Manager": [("can_post", _API), ("can_get", _API), ("can_put", _API)],
    "Account Manager": [("can_get", _API)],
    "Franchise IT": [("can_get", _API)],
}
for _role, _perms in screens.PERMISSIONS.items():
    PERMISSIONS.setdefault(_role, []).extend(_perms)


def add_views(appbuilder, category):
    from plugins.tickets.desk.api import TicketApi

    appbuilder.add_api(TicketApi)
    screens.add_views(appbuilder, category)


__all__ = ["MODELS", "CUSTOM_FIELD_TARGETS", "PERMISSIONS", "add_views", "on_domain_event", "customer_data",
           "erase_customer"]
