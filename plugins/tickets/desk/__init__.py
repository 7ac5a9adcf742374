"""The service desk itself: ticket intake, the ticket page and its timeline, the agents' queues and the API."""

from __future__ import annotations

from plugins.tickets.models import AgentAlert, ExceptionTicketLink, Ticket, TicketEvent, TicketParticipant

MODELS = [Ticket, TicketEvent, TicketParticipant, ExceptionTicketLink, AgentAlert]
CUSTOM_FIELD_TARGETS = [Ticket]
PERMISSIONS: dict = {}
