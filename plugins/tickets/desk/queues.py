"""The agents' queues: "my tickets", "my team's unassigned" (both sorted by due time) and "my alerts".

These pages are opened all day on 2,000,000 tickets, so they stay off FAB's generic list: each page is a
few plain queries on the indexes Ticket declares for them (`ix_tk_ticket_assignee_open_due`,
`ix_tk_ticket_team_open_due`), counts are capped, one page holds 50 rows, and the names a page shows
(customers, teams) are read in one query each.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, flash, redirect, request, url_for
from flask_appbuilder import BaseView
from flask_appbuilder.baseviews import expose
from flask_appbuilder.security.decorators import has_access, permission_name
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, case, func, select, update

from core.clock import utcnow
from core.extensions import db
from core.models import Customer
from core.privacy import mask_name
from core.tenancy import current_user_obj
from plugins.tickets.desk.display import is_overdue, label, local_time, overdue_condition
from plugins.tickets.menu import TEMPLATE_FOLDER
from plugins.tickets.models import AgentAlert, Ticket
from plugins.tickets.routing.models import Team, TeamMember
from plugins.tickets.routing.sharing import visible_tickets_criterion

PAGE_SIZE = 50
MINE_MENU, TEAM_MENU, ALERTS_MENU = "My tickets", "Team queue", "My alerts"
ALERT_KINDS = {"sla_warning": _l("SLA warning"), "sla_breach": _l("SLA breached"), "escalated": _l("Escalated"),
               "assigned": _l("Assigned to you")}
QUEUE_COLUMNS = (Ticket.id, Ticket.subject, Ticket.type, Ticket.category, Ticket.priority, Ticket.status,
                 Ticket.customer_id, Ticket.waybill_no, Ticket.team_id, Ticket.franchise_id, Ticket.created_at,
                 Ticket.next_due_at, Ticket.sla_paused)


@dataclass
class QueueRow:
    id: int
    number: str
    subject: str
    type: str
    category: str
    priority: str
    priority_code: str
    status: str
    customer: str
    waybill_no: str
    team: str
    due: str
    overdue: bool
    paused: bool
    created_at: str


@dataclass
class QueuePage:
    rows: list[QueueRow]
    total: int
    total_capped: bool
    overdue: int
    overdue_capped: bool
    page: int
    has_next: bool


def count_cap() -> int:
    return int(current_app.config.get("CRM_QUEUE_COUNT_CAP", 1000))


def capped_count(condition) -> tuple[int, bool]:
    """At most cap+1 rows are counted: (count, whether there are more than the cap)."""
    cap = count_cap()
    limited = select(Ticket.id).where(condition).limit(cap + 1).subquery()
    found = db.session.execute(select(func.count()).select_from(limited)).scalar_one()
    return min(found, cap), found > cap


def queue_page(condition, page: int) -> QueuePage:
    """One page of open tickets matching `condition`, earliest due first, no due time last, paused at the end."""
    now = utcnow()
    # the order of the queue indexes: a page is read off the index, not sorted from every open row
    query = (select(*QUEUE_COLUMNS).where(condition)
             .order_by(Ticket.next_due_at.asc().nulls_last(), Ticket.id)
             .offset(page * PAGE_SIZE).limit(PAGE_SIZE + 1))
    found = db.session.execute(query).all()
    has_next = len(found) > PAGE_SIZE
    found = found[:PAGE_SIZE]
    total, total_capped = capped_count(condition)
    overdue, overdue_capped = capped_count(and_(condition, overdue_condition(now)))
    customers = _customer_names({r.customer_id for r in found if r.customer_id})
    teams = _team_names({r.team_id for r in found if r.team_id})
    rows = []
    for r in found:
        due_at = r.next_due_at
        rows.append(QueueRow(
            id=r.id, number=f"T{r.id:08d}", subject=r.subject, type=label("type", r.type),
            category=label("category", r.category), priority=label("priority", r.priority), priority_code=r.priority,
            status=label("status", r.status), customer=customers.get(r.customer_id, ""), waybill_no=r.waybill_no or "",
            team=teams.get(r.team_id, ""), due=local_time(due_at), overdue=is_overdue(due_at, r.sla_paused, now=now),
            paused=bool(r.sla_paused), created_at=local_time(r.created_at)))
    return QueuePage(rows, total, total_capped, overdue, overdue_capped, page, has_next)


def _customer_names(ids) -> dict[int, str]:
    if not ids:
        return {}
    query = select(Customer.id, Customer.kind, Customer.name).where(Customer.id.in_(sorted(ids)))
    # as Customer.display_name, without loading whole rows: a business's name in full, a person's masked
    return {cid: name if kind == "B" else mask_name(name) for cid, kind, name in db.session.execute(query)}


def _team_names(ids) -> dict[int, str]:
    if not ids:
        return {}
    return dict(db.session.execute(select(Team.id, Team.name).where(Team.id.in_(sorted(ids)))).all())


def _visible(condition):
    # the tickets the user may see (own franchises, shared ones, the plugin active there)
    scope = visible_tickets_criterion()
    return condition if scope is None else and_(condition, scope)


def my_tickets_condition(user_id: int):
    return _visible(and_(Ticket.assignee_id == user_id, Ticket.is_open.is_(True)))


def my_team_ids(user_id: int) -> list[int]:
    query = (select(TeamMember.team_id).join(Team, Team.id == TeamMember.team_id)
             .where(TeamMember.user_id == user_id, TeamMember.active.is_(True), Team.active.is_(True)))
    return sorted(db.session.scalars(query))


def team_unassigned_condition(team_ids: list[int]):
    return _visible(and_(Ticket.team_id.in_(team_ids), Ticket.is_open.is_(True), Ticket.assignee_id.is_(None)))


def alerts_page(user_id: int, page: int):
    """The user's alerts, unread first, newest first; with the ticket's number and subject."""
    unread_first = case((AgentAlert.read_at.is_(None), 0), else_=1)
    query = (select(AgentAlert.id, AgentAlert.kind, AgentAlert.message, AgentAlert.created_at, AgentAlert.read_at,
                    AgentAlert.ticket_id, Ticket.subject)
             .join(Ticket, Ticket.id == AgentAlert.ticket_id)
             .where(AgentAlert.user_id == user_id)
             .order_by(unread_first, AgentAlert.created_at.desc(), AgentAlert.id.desc())
             .offset(page * PAGE_SIZE).limit(PAGE_SIZE + 1))
    found = db.session.execute(query).all()
    unread_cap = count_cap()
    unread = db.session.execute(select(func.count()).select_from(
        select(AgentAlert.id).where(AgentAlert.user_id == user_id, AgentAlert.read_at.is_(None))
        .limit(unread_cap + 1).subquery())).scalar_one()
    rows = [{"id": a.id, "kind": str(ALERT_KINDS.get(a.kind, a.kind)), "message": a.message or "",
             "created_at": local_time(a.created_at), "unread": a.read_at is None, "ticket_id": a.ticket_id,
             "number": f"T{a.ticket_id:08d}", "subject": a.subject} for a in found[:PAGE_SIZE]]
    return rows, min(unread, unread_cap), unread > unread_cap, len(found) > PAGE_SIZE


def mark_alerts_read(user_id: int, alert_ids: list[int] | None) -> int:
    """Mark the user's alerts read (the given ones, or all): one UPDATE; someone else's alerts are untouched."""
    statement = (update(AgentAlert).where(AgentAlert.user_id == user_id, AgentAlert.read_at.is_(None))
                 .values(read_at=utcnow()))
    if alert_ids is not None:
        statement = statement.where(AgentAlert.id.in_(alert_ids))
    return db.session.execute(statement).rowcount


def _page_number() -> int:
    try:
        return max(int(request.args.get("page", 0)), 0)
    except ValueError:
        return 0


class TicketQueueView(BaseView):
    route_base = "/tickets/queue"
    plugin = "tickets"
    default_view = "mine"
    template_folder = TEMPLATE_FOLDER

    @expose("/mine")
    @has_access
    def mine(self):
        user = current_user_obj()
        result = queue_page(my_tickets_condition(user.id), _page_number())
        return self.render_template("tickets/desk/queue.html", queue=result, kind="mine", title=_("My tickets"),
                                    heading=_("My tickets"), teams=None)

    @expose("/team")
    @has_access
    def team(self):
        user = current_user_obj()
        team_ids = my_team_ids(user.id)
        result = (queue_page(team_unassigned_condition(team_ids), _page_number()) if team_ids
                  else QueuePage([], 0, False, 0, False, 0, False))
        return self.render_template("tickets/desk/queue.html", queue=result, kind="team",
                                    title=_("My team's unassigned tickets"),
                                    heading=_("My team's unassigned tickets"), teams=_team_names(set(team_ids)),
                                    me=user.id)

    @expose("/alerts")
    @has_access
    def alerts(self):
        page = _page_number()
        rows, unread, unread_capped, has_next = alerts_page(current_user_obj().id, page)
        return self.render_template("tickets/desk/alerts.html", alerts=rows, unread=unread,
                                    unread_capped=unread_capped, page=page, has_next=has_next, title=_("My alerts"))

    @expose("/alerts/read", methods=["POST"])
    @has_access
    @permission_name("alerts")
    def alerts_read(self):
        if request.form.get("all"):
            ids = None
        else:
            ids = [int(v) for v in request.form.getlist("alert_id") if v.isdigit()]
        count = mark_alerts_read(current_user_obj().id, ids)
        db.session.commit()
        flash(_("%(count)d alerts marked read.", count=count), "success")
        return redirect(url_for(".alerts"))
