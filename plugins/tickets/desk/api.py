"""/api/v1/tickets/: tickets for other channels (chat, app, WeChat, e-mail gateways) and integrations.

Create runs the same intake as the agents' form (attach to the parcel's open ticket, dispatch, SLA).
Lists are keyset-paginated (`after` = the last id seen), never counted. Every refusal is a 4xx JSON body
naming the field.
"""

from __future__ import annotations

from flask import request
from flask_appbuilder.api import BaseApi, expose, protect, safe
from flask_appbuilder.security.sqla.models import User
from sqlalchemy import select

from core.extensions import db
from core.privacy import masked
from core.tenancy import current_scope, current_user_obj
from plugins.tickets import choices, workflow
from plugins.tickets.desk.intake import IntakeError, create_ticket
from plugins.tickets.models import Ticket, TicketEvent
from plugins.tickets.routing.assign import assign_to
from plugins.tickets.routing.sharing import visible_tickets_criterion

LIST_LIMIT = 100


def _iso(value):
    return value.isoformat(timespec="seconds") + "Z" if value is not None else None


def ticket_json(ticket: Ticket) -> dict:
    return {
        "id": ticket.id, "number": ticket.number, "franchise_id": ticket.franchise_id, "type": ticket.type,
        "category": ticket.category, "priority": ticket.priority, "channel": ticket.channel,
        "status": ticket.status, "subject": ticket.subject, "description": ticket.description,
        "customer_id": ticket.customer_id, "shipment_id": ticket.shipment_id, "waybill_no": ticket.waybill_no,
        "reporter_role": ticket.reporter_role, "reporter_name": ticket.reporter_masked,
        "reporter_phone": masked(ticket, "reporter_phone"), "team_id": ticket.team_id,
        "assignee_id": ticket.assignee_id, "customer_tier": ticket.customer_tier,
        "first_response_due": _iso(ticket.first_response_due), "resolution_due": _iso(ticket.resolution_due),
        "regulatory_due": _iso(ticket.regulatory_due), "sla_paused": ticket.sla_paused,
        "sla_state": ticket.sla_state, "resolution_code": ticket.resolution_code,
        "created_at": _iso(ticket.created_at), "resolved_at": _iso(ticket.resolved_at),
        "closed_at": _iso(ticket.closed_at), "custom": ticket.custom or {},
    }


def event_json(event: TicketEvent) -> dict:
    return {"id": event.id, "at": _iso(event.at), "kind": event.kind, "internal": event.internal,
            "user_id": event.user_id, "body": event.body, "data": event.data}


class TicketApi(BaseApi):
    resource_name = "tickets"
    openapi_spec_tag = "Tickets"
    plugin = "tickets"
    method_permission_name = {"create": "post", "show": "get", "list": "get", "events": "get", "act": "put"}

    @expose("/", methods=["POST"])
    @protect()
    @safe
    def create(self):
        """Open a ticket (or attach the report to the parcel's open ticket)
        ---
        post:
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  type: object
                  required: [subject]
                  properties:
                    type: {type: string, enum: [inquiry, complaint, claim, address_change, exception, other]}
                    category: {type: string}
                    priority: {type: string, enum: [urgent, high, normal, low]}
                    channel: {type: string}
                    subject: {type: string}
                    description: {type: string}
                    waybill_no: {type: string}
                    customer_id: {type: integer}
                    reporter_role: {type: string, enum: [sender, receiver, other]}
                    reporter_name: {type: string}
                    reporter_phone: {type: string}
                    franchise_id: {type: integer}
                    custom: {type: object}
          responses:
            201: {description: created}
            200: {description: attached to the parcel's open ticket}
            422: {description: what is wrong, per field}
        """
        body = request.get_json(silent=True) if request.is_json else None
        if not isinstance(body, dict):
            return self.response_400(message="Request body must be a JSON object")
        body.setdefault("channel", "api")
        try:
            result = create_ticket(body, current_user_obj())
            db.session.flush()
            answer = ticket_json(result.ticket)  # before the commit expires the row: no reload
            db.session.commit()
        except IntakeError as exc:
            db.session.rollback()
            return self.response_422(message=exc.errors)
        return self.response(200 if result.attached else 201, id=answer["id"], attached=result.attached,
                             result=answer)

    @expose("/<int:pk>", methods=["GET"])
    @protect()
    @safe
    def show(self, pk):
        """One ticket
        ---
        get:
          parameters: [{in: path, name: pk, required: true, schema: {type: integer}}]
          responses: {200: {description: the ticket}, 404: {description: not found}}
        """
        ticket = visible_ticket(pk)
        if ticket is None:
            return self.response_404()
        return self.response(200, result=ticket_json(ticket))

    @expose("/<int:pk>/events", methods=["GET"])
    @protect()
    @safe
    def events(self, pk):
        """A ticket's timeline, oldest first
        ---
        get:
          parameters: [{in: path, name: pk, required: true, schema: {type: integer}}]
          responses: {200: {description: the timeline}, 404: {description: not found}}
        """
        ticket = visible_ticket(pk)
        if ticket is None:
            return self.response_404()
        rows = db.session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == pk)
                                  .order_by(TicketEvent.at, TicketEvent.id))
        return self.response(200, result=[event_json(e) for e in rows])

    @expose("/", methods=["GET"])
    @protect()
    @safe
    def list(self):
        """Tickets, newest first, keyset-paginated: pass `after` = the smallest id of the previous page
        ---
        get:
          parameters:
          - {in: query, name: status, schema: {type: string}}
          - {in: query, name: type, schema: {type: string}}
          - {in: query, name: waybill_no, schema: {type: string}}
          - {in: query, name: customer_id, schema: {type: integer}}
          - {in: query, name: open, schema: {type: boolean}}
          - {in: query, name: after, schema: {type: integer}}
          - {in: query, name: limit, schema: {type: integer, maximum: 100}}
          responses: {200: {description: a page of tickets}, 400: {description: a bad parameter}}
        """
        query = select(Ticket).order_by(Ticket.id.desc())
        condition = visible_tickets_criterion(current_scope())
        if condition is not None:
            query = query.where(condition)
        for name, options in (("status", choices.STATUSES), ("type", choices.TYPES)):
            value = request.args.get(name)
            if value:
                if value not in options:
                    return self.response_400(message={name: [f"not one of: {', '.join(options)}"]})
                query = query.where(getattr(Ticket, name) == value)
        if request.args.get("waybill_no"):
            query = query.where(Ticket.waybill_no == request.args["waybill_no"].strip().upper())
        if request.args.get("open") in ("true", "1", "false", "0"):
            query = query.where(Ticket.is_open.is_(request.args["open"] in ("true", "1")))
        try:
            for name in ("customer_id", "after", "limit"):
                int(request.args.get(name) or 0)
        except ValueError:
            return self.response_400(message={name: ["not a number"]})
        if request.args.get("customer_id"):
            query = query.where(Ticket.customer_id == int(request.args["customer_id"]))
        if request.args.get("after"):
            query = query.where(Ticket.id < int(request.args["after"]))
        limit = min(int(request.args.get("limit") or 50), LIST_LIMIT)
        rows = db.session.scalars(query.limit(limit)).all()
        return self.response(200, result=[ticket_json(t) for t in rows],
                             next_after=rows[-1].id if len(rows) == limit else None)

    @expose("/<int:pk>/<action>", methods=["POST"])
    @protect()
    @safe
    def act(self, pk, action):
        """Work a ticket: reply, note, status, priority, assign, customer_reply
        ---
        post:
          parameters:
          - {in: path, name: pk, required: true, schema: {type: integer}}
          - {in: path, name: action, required: true,
             schema: {type: string, enum: [reply, note, status, priority, assign, customer_reply]}}
          requestBody:
            content:
              application/json:
                schema:
                  type: object
                  properties:
                    body: {type: string}
                    status: {type: string}
                    resolution_code: {type: string}
                    priority: {type: string}
                    assignee_id: {type: integer}
          responses:
            200: {description: the ticket after the change}
            404: {description: not found}
            422: {description: refused, naming the field}
        """
        if action not in ACTIONS:
            return self.response_404()
        ticket = visible_ticket(pk, for_update=True)
        if ticket is None:
            return self.response_404()
        body = request.get_json(silent=True) if request.is_json else None
        if not isinstance(body, dict):
            return self.response_400(message="Request body must be a JSON object")
        try:
            if action in OWNER_ACTIONS:
                workflow.require_owner(ticket, action)
            ACTIONS[action](ticket, body, current_user_obj())
            db.session.commit()
        except workflow.TicketError as exc:
            db.session.rollback()
            return self.response_422(message={exc.field: [str(exc.problem)]})
        return self.response(200, result=ticket_json(ticket))


def visible_ticket(pk: int, for_update: bool = False) -> Ticket | None:
    """The ticket if the current user may see it (own franchise or invited participant)."""
    query = select(Ticket).where(Ticket.id == pk)
    condition = visible_tickets_criterion(current_scope())
    if condition is not None:
        query = query.where(condition)
    if for_update and db.engine.dialect.name == "postgresql":
        query = query.with_for_update(of=Ticket)
    return db.session.scalar(query)


def _assign(ticket, body, user):
    try:
        assignee = db.session.get(User, int(body.get("assignee_id")))
    except (TypeError, ValueError):
        assignee = None
    if assignee is None:
        raise workflow.TicketError("assignee_id", "no such user")
    assign_to(ticket, assignee, by=user)


OWNER_ACTIONS = {"status", "priority", "assign"}
ACTIONS = {
    "reply": lambda ticket, body, user: workflow.reply(ticket, user, body.get("body")),
    "note": lambda ticket, body, user: workflow.note(ticket, user, body.get("body")),
    "customer_reply": lambda ticket, body, user: workflow.customer_reply(ticket, body.get("body"),
                                                                         body.get("channel")),
    "status": lambda ticket, body, user: workflow.change_status(ticket, body.get("status"), user,
                                                                body.get("resolution_code"), body.get("note")),
    "priority": lambda ticket, body, user: workflow.set_priority(ticket, body.get("priority"), user,
                                                                 body.get("reason")),
    "assign": _assign,
}
