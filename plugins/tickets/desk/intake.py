"""Ticket intake: the one path by which a ticket comes in (agent form, REST API, exception event).

It checks what the report names (waybill, customer, franchise), attaches a report about a parcel that
already has an open ticket to that ticket instead of duplicating it, fills in what intake knows (customer
of the parcel, tier, area), dispatches to a team, starts the SLA clocks and announces `ticket.created`.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select

from core.clock import utcnow
from core.events import emit
from core.extensions import db
from core.lowcode.fields import check_record_values
from core.models import Customer, Shipment, TrackingEvent
from core.views.base import fill_defaults
from core.plugins import registry
from core.privacy import PersonalDataError, normalise_phone, search_hash
from core.tenancy import current_scope, current_user_obj, model_scope
from plugins.tickets import choices
from plugins.tickets.models import Ticket, open_ticket_for_shipment
from plugins.tickets.routing.dispatch import route
from plugins.tickets.sla.clock import refresh
from plugins.tickets.settings import current as settings_of
from plugins.tickets.workflow import event_payload, record

CHOICE_FIELDS = {"type": choices.TYPES, "category": choices.CATEGORIES, "priority": choices.PRIORITIES,
                 "channel": choices.CHANNELS, "reporter_role": choices.REPORTER_ROLES}
TEXT_LIMITS = {"subject": 200, "reporter_name": 64, "waybill_no": 32, "transfer_centre": 64}
FIELDS = (*CHOICE_FIELDS, "subject", "description", "waybill_no", "customer_id", "reporter_name", "reporter_phone",
          "franchise_id", "custom", "transfer_centre")


class IntakeError(Exception):
    """What is wrong with a report, per field; nothing was stored."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors.items()))
        self.errors = errors


@dataclass
class IntakeResult:
    ticket: Ticket
    attached: bool  # the report joined the parcel's open ticket


def create_ticket(values: dict, user=None) -> IntakeResult:
    """Open a ticket from a report (or attach it to the parcel's open ticket); the caller commits.

    `values` may hold the keys of FIELDS; unknown keys are refused. Raises IntakeError naming each field.
    """
    user = user if user is not None else current_user_obj()
    errors: dict[str, str] = {}
    unknown = sorted(set(values) - set(FIELDS))
    for key in unknown:
        errors[key] = str(_l("unknown field"))
    data = {key: _clean(values.get(key)) for key in FIELDS}
    data["type"] = data["type"] or "inquiry"
    data["priority"] = data["priority"] or "normal"
    data["channel"] = data["channel"] or "phone"
    data["reporter_role"] = data["reporter_role"] or "sender"
    for field, options in CHOICE_FIELDS.items():
        if data[field] is not None and data[field] not in options:
            errors[field] = str(_l("not one of: %(values)s", values=", ".join(options)))
    for field, limit in TEXT_LIMITS.items():
        if isinstance(data[field], str) and len(data[field]) > limit:
            errors[field] = str(_l("at most %(count)d characters", count=limit))
    if not data["subject"]:
        errors["subject"] = str(_l("required"))
    if data["type"] == "complaint" and not data["category"]:
        errors["category"] = str(_l("a complaint needs a category"))
    if data["custom"] is not None and not isinstance(data["custom"], dict):
        errors["custom"] = str(_l("an object of custom field values"))
    franchise_id = _franchise(data, errors)
    shipment = _shipment(data["waybill_no"], franchise_id, errors)
    customer = _customer(data["customer_id"], shipment, franchise_id, errors)
    phone_hash = _phone_hash(data["reporter_phone"], errors)
    if errors:
        raise IntakeError(errors)

    if shipment is not None and settings_of(franchise_id).get("attach_to_open_ticket", True):
        existing = open_ticket_for_shipment(db.session, shipment.id)
        if existing is not None and _may_attach(existing, franchise_id):
            attach(existing, data, user)
            return IntakeResult(existing, True)

    ticket = Ticket(
        franchise_id=franchise_id, type=data["type"], category=data["category"], priority=data["priority"],
        channel=data["channel"], subject=data["subject"], description=data["description"],
        customer=customer, shipment=shipment, waybill_no=shipment.waybill_no if shipment else None,
        reporter_role=data["reporter_role"], reporter_name=data["reporter_name"],
        transfer_centre=data["transfer_centre"], created_by_id=getattr(user, "id", None),
        custom=data["custom"])
    if data["reporter_phone"]:
        ticket.reporter_phone = data["reporter_phone"]
        ticket.reporter_phone_hash = phone_hash
    custom_errors = check_record_values(ticket)
    if custom_errors:
        raise IntakeError({f"custom.{key}": (msgs[0] if isinstance(msgs, list) else str(msgs))
                           for key, msgs in custom_errors.items()})
    return IntakeResult(open_new(ticket, user), False)


def open_new(ticket: Ticket, user=None, exception_kind: str | None = None) -> Ticket:
    """Fill in what intake knows, store the ticket with its first timeline line, dispatch, start the clocks."""
    ticket.exception_kind = exception_kind
    apply_service_level(ticket)
    shipment, customer = ticket.shipment, ticket.customer
    ticket.district_code = ((shipment.receiver_district_code if shipment is not None else None)
                            or (customer.district_code if customer is not None else None))
    if ticket.transfer_centre is None and shipment is not None:  # where the parcel was last scanned
        ticket.transfer_centre = last_scan_location(shipment.id)
    fill_defaults(ticket)  # status "new" and the rest now: routing and the clocks read them before the INSERT
    ticket.is_open = True
    ticket.created_at = ticket.created_at or utcnow()
    db.session.add(ticket)
    # team, assignee and due times are decided before the row is written: one INSERT, no UPDATEs after it
    with db.session.no_autoflush:
        record(ticket, "created", user, body=ticket.description, internal=False,
               data={"channel": ticket.channel, "exception_kind": exception_kind}, at=ticket.created_at)
        route(ticket, user)
        refresh(ticket)
    db.session.flush()
    # relayed with the next cron round (a few seconds) rather than one relay per ticket: intake is a hot path
    emit("ticket.created", ticket.franchise_id, event_payload(ticket), batched=True)
    return ticket


def attach(ticket: Ticket, data: dict, user=None) -> None:
    """Another report about the same parcel: a line on the open ticket, with what the new report said."""
    record(ticket, "attached", user, body=data.get("description") or data.get("subject"), internal=False,
           data={"channel": data.get("channel"), "type": data.get("type"), "subject": data.get("subject"),
                 "reporter_role": data.get("reporter_role")})
    if choices.PRIORITY_RANK.get(data.get("priority") or "normal", 1) > choices.PRIORITY_RANK[ticket.priority]:
        from plugins.tickets.workflow import set_priority

        set_priority(ticket, data["priority"], user, reason=str(_l("raised by another report")))


def customer_tier(franchise_id: int, customer_id: int | None) -> str | None:
    if customer_id is None:
        return None
    caller = registry().hook_for_franchise("crm_customer_tier", franchise_id)
    return caller(franchise_id=franchise_id, customer_id=customer_id)


def apply_service_level(ticket: Ticket) -> None:
    """The customer's tier on the ticket, and the tier's least priority (an A customer's ticket starts "high"
    when its service level says so), before dispatch rules and SLA policies read them."""
    customer_id = ticket.customer_id or (ticket.customer.id if ticket.customer is not None else None)
    if customer_id is None:
        return
    caller = registry().hook_for_franchise("crm_customer_service_level", ticket.franchise_id)
    level = caller(franchise_id=ticket.franchise_id, customer_id=customer_id)
    if level is None:
        ticket.customer_tier = customer_tier(ticket.franchise_id, customer_id)
        return
    ticket.customer_tier = level.get("tier")
    least = level.get("ticket_priority")
    if least in choices.PRIORITY_RANK and \
            choices.PRIORITY_RANK[least] > choices.PRIORITY_RANK.get(ticket.priority or "normal", 1):
        ticket.priority = least


def last_scan_location(shipment_id: int) -> str | None:
    query = (select(TrackingEvent.location).where(TrackingEvent.shipment_id == shipment_id,
                                                  TrackingEvent.location.is_not(None))
             .order_by(TrackingEvent.occurred_at.desc()).limit(1))
    location = db.session.scalar(query)
    return location[:64] if location else None


def lookup(waybill_no: str | None = None, phone: str | None = None, limit: int = 10) -> dict:
    """What the fast form shows for a waybill or a phone: parcels, customers, and a parcel's open ticket."""
    scope = model_scope(Shipment)
    shipments, customers = [], []
    if waybill_no:
        number = waybill_no.strip().upper()
        query = select(Shipment).where(Shipment.waybill_no == number)
        condition = _origin_or_destination(scope)
        if condition is not None:
            query = query.where(condition)
        shipments = list(db.session.scalars(query.limit(limit)))
    if phone:
        digest = search_hash("phone", phone)
        if digest:
            customers = list(db.session.scalars(scope_query(Customer).where(Customer.phone_hash == digest)
                                                .limit(limit)))
            shipments += list(db.session.scalars(scope_query(Shipment).where(Shipment.receiver_phone_hash == digest)
                                                 .order_by(Shipment.created_at.desc()).limit(limit)))
    open_ticket = None
    if len(shipments) == 1:
        found = open_ticket_for_shipment(db.session, shipments[0].id)
        if found is not None and current_scope().allows(found.franchise_id):
            open_ticket = {"id": found.id, "number": found.number, "subject": found.subject,
                           "status": found.status}
    return {"shipments": [_shipment_facts(s) for s in shipments],
            "customers": [_customer_facts(c) for c in customers], "open_ticket": open_ticket}


def scope_query(model):
    return model_scope(model).restrict(select(model), model.franchise_id)


# --- checks --------------------------------------------------------------------------------------------


def _clean(value):
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def _franchise(data: dict, errors: dict) -> int | None:
    scope = model_scope(Ticket)
    franchise_id = data["franchise_id"]
    if franchise_id is None:
        if not scope.all and len(scope.franchise_ids) == 1:
            return next(iter(scope.franchise_ids))
        errors["franchise_id"] = str(_l("required: you work for more than one franchise"))
        return None
    try:
        franchise_id = int(franchise_id)
    except (TypeError, ValueError):
        errors["franchise_id"] = str(_l("not a number"))
        return None
    if not scope.allows(franchise_id):
        errors["franchise_id"] = str(_l("no such franchise, or the tickets plugin is not active there"))
        return None
    return franchise_id


def _origin_or_destination(scope):
    """Parcels a franchise may open tickets on: those it sent and those it delivers."""
    if scope.all:
        return None
    ids = sorted(scope.franchise_ids)
    return or_(Shipment.franchise_id.in_(ids), Shipment.dest_franchise_id.in_(ids))


def _shipment(waybill_no, franchise_id, errors) -> Shipment | None:
    if not waybill_no or franchise_id is None:
        return None
    number = str(waybill_no).strip().upper()
    found = db.session.scalars(select(Shipment).where(Shipment.waybill_no == number).limit(2)).all()
    ours = [s for s in found if franchise_id in (s.franchise_id, s.dest_franchise_id)]
    if not ours:
        # a parcel of another franchise's route is "not found": its existence is that franchise's business
        errors["waybill_no"] = str(_l("waybill %(number)s not found", number=number))
        return None
    return ours[0]


def _customer(customer_id, shipment, franchise_id, errors) -> Customer | None:
    if customer_id in (None, ""):
        if shipment is not None and shipment.customer is not None and shipment.customer.franchise_id == franchise_id:
            return shipment.customer
        return None
    try:
        customer_id = int(customer_id)
    except (TypeError, ValueError):
        errors["customer_id"] = str(_l("not a number"))
        return None
    customer = db.session.get(Customer, customer_id)
    if customer is None or not model_scope(Customer).allows(customer.franchise_id):
        errors["customer_id"] = str(_l("no such customer"))
        return None
    if franchise_id is not None and customer.franchise_id != franchise_id:
        errors["customer_id"] = str(_l("the customer belongs to another franchise"))
        return None
    return customer


def _phone_hash(phone, errors) -> str | None:
    if not phone:
        return None
    try:
        normalise_phone(phone, field="reporter_phone")
    except PersonalDataError as exc:
        errors["reporter_phone"] = str(exc.problem)
        return None
    return search_hash("phone", phone)


def _may_attach(ticket: Ticket, franchise_id: int) -> bool:
    # a report taken by the other franchise of the route attaches only if it can see the ticket
    return ticket.franchise_id == franchise_id or any(
        p.participant_franchise_id == franchise_id for p in ticket.participants)


def _shipment_facts(shipment: Shipment) -> dict:
    return {"id": shipment.id, "waybill_no": shipment.waybill_no, "status": shipment.status,
            "customer_id": shipment.customer_id,
            "customer": shipment.customer.display_name if shipment.customer is not None else None,
            "franchise_id": shipment.franchise_id, "dest_franchise_id": shipment.dest_franchise_id,
            "receiver": shipment.receiver_masked, "created_at": shipment.created_at.isoformat(timespec="minutes")}


def _customer_facts(customer: Customer) -> dict:
    return {"id": customer.id, "name": customer.display_name, "kind": customer.kind,
            "franchise_id": customer.franchise_id}
