"""The tickets panel of the customer 360 page: the customer's latest tickets the viewer may see."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from sqlalchemy import select

from core.clock import to_local
from core.customer360 import Panel
from core.extensions import db
from core.tenancy import scope_criterion
from core.models.choices import label
from plugins.tickets import choices
from plugins.tickets.models import Ticket

LATEST = 10
TICKET_URL = "/tickets/show/{id}"  # the desk's ticket page


def latest_tickets(customer, limit: int = LATEST) -> list[Ticket]:
    query = (select(Ticket).where(Ticket.customer_id == customer.id)
             .order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(limit))
    condition = scope_criterion(Ticket)
    return list(db.session.scalars(query if condition is None else query.where(condition)))


def _due(ticket) -> str:
    due = ticket.regulatory_due if ticket.is_open and ticket.type == "complaint" and ticket.regulatory_due and (
        ticket.resolution_due is None or ticket.regulatory_due < ticket.resolution_due) else ticket.resolution_due
    if not ticket.is_open or due is None:
        return ""
    return to_local(due).strftime("%Y-%m-%d %H:%M")


def render_panel(customer) -> Markup:
    tickets = latest_tickets(customer)
    if not tickets:
        return Markup('<p class="text-muted">%s</p>') % _("No tickets yet.")
    head = Markup("<tr><th>%s</th><th>%s</th><th>%s</th><th>%s</th><th>%s</th></tr>") % (
        _("Ticket"), _("Type"), _("Subject"), _("Status"), _("Due"))
    rows = Markup("").join(
        Markup('<tr class="%s"><td><a href="%s">%s</a></td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>') % (
            "danger" if t.is_open and t.sla_state == "breached" else "", TICKET_URL.format(id=t.id), t.number,
            label(choices.TYPES, t.type), t.subject, label(choices.STATUSES, t.status), _due(t))
        for t in tickets)
    return Markup('<table class="table table-condensed" data-panel="tickets">%s%s</table>') % (head, rows)


PANELS = [Panel("tickets", _l("Tickets"), render_panel, order=20)]
