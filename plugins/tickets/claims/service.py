"""What may happen to a claim: open, assess, approve within a role's limit, reject, pay, charge back.

Each step checks everything before it changes anything (a refusal leaves the claim as it was), writes a
line on the ticket's timeline and is audited through the model. Functions change the session and do not
commit.

Amounts above the shipment's declared value may be submitted; such a claim is flagged "over declared" and
only HQ may approve it, whatever the role limits say (a franchise cannot sign off money the insurance of
the parcel does not cover). Nothing is paid without approval.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from core.clock import utcnow
from core.extensions import db
from core.tenancy import current_scope, is_hq, scope_for_user
from plugins.tickets.claims.models import PAYOUT_METHODS, Claim, ClaimApprovalLimit
from plugins.tickets.workflow import TicketError, record

# ticket types and categories a claim may be opened on
CLAIM_CATEGORIES = ("lost", "damaged")
LARGEST_AMOUNT = Decimal("9999999999.99")  # Numeric(12, 2)
CENT = Decimal("0.01")


def parse_amount(value, field: str) -> Decimal:
    """A positive amount of money with at most two decimals, or TicketError naming `field`."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise TicketError(field, _l("required"))
    if isinstance(value, bool):
        raise TicketError(field, _l("not a number"))
    try:
        amount = Decimal(str(value).strip().replace(",", ""))
    except (InvalidOperation, ValueError):
        raise TicketError(field, _l("not a number")) from None
    if not amount.is_finite():
        raise TicketError(field, _l("not a number"))
    if amount <= 0:
        raise TicketError(field, _l("must be more than 0"))
    if amount > LARGEST_AMOUNT:
        raise TicketError(field, _l("too large"))
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def money(amount) -> str:
    return "" if amount is None else f"{Decimal(amount):.2f}"


def amount_to_approve(claim: Claim) -> Decimal:
    """The assessed amount once there is one, else what the customer asked for."""
    return Decimal(claim.assessed_amount if claim.assessed_amount is not None else claim.requested_amount)


def over_declared(claim: Claim) -> bool:
    """Whether the amount to approve is above the declared value (unknown declared value: no flag)."""
    return claim.declared_value is not None and amount_to_approve(claim) > Decimal(claim.declared_value)


def approval_limit(user, franchise_id: int) -> Decimal | None:
    """The largest ClaimApprovalLimit of the user's roles in the franchise (None: the user has none)."""
    names = [role.name for role in getattr(user, "roles", []) or []]
    if not names:
        return None
    return db.session.scalar(select(func.max(ClaimApprovalLimit.max_amount)).where(
        ClaimApprovalLimit.franchise_id == franchise_id, ClaimApprovalLimit.role_name.in_(names)))


def _scope_of(user):
    return scope_for_user(user) if user is not None else current_scope()


def _require_owner(claim: Claim, user) -> None:
    # the charged franchise sees the claim but decides nothing about it
    if not _scope_of(user).allows(claim.franchise_id):
        raise TicketError("claim", _l("only the claim's franchise can do this"))


def _require_status(claim: Claim, allowed: tuple[str, ...], doing) -> None:
    if claim.status not in allowed:
        raise TicketError("status", _l("a claim that is %(status)s cannot be %(doing)s",
                                       status=_status_label(claim.status), doing=doing))


def _status_label(code: str) -> str:
    from plugins.tickets.claims.models import CLAIM_STATUSES

    return str(CLAIM_STATUSES.get(code, code))


def _line(claim: Claim, user, body: str, **data) -> None:
    record(claim.ticket, "claim", user, body=body, data={"claim_id": claim.id, **data})


def may_claim(ticket) -> bool:
    return ticket.type == "claim" or (ticket.type in ("complaint", "exception")
                                      and ticket.category in CLAIM_CATEGORIES)


def open_claim(ticket, requested_amount, user, note: str | None = None) -> Claim:
    """A claim on the ticket's parcel for `requested_amount`, with the shipment's declared value kept as it
    is today. Above the declared value it is accepted and flagged: only HQ may approve it."""
    if not may_claim(ticket):
        raise TicketError("ticket", _l("claims are made on claim tickets, or on complaints and exceptions "
                                       "about lost or damaged parcels"))
    amount = parse_amount(requested_amount, "requested_amount")
    if ticket.shipment is None:
        raise TicketError("shipment", _l("the ticket has no shipment: link its waybill first"))
    current = [c for c in ticket.claims if c.status != "rejected"]
    if current:
        raise TicketError("ticket", _l("this ticket already has claim %(claim)s", claim=repr(current[0])))
    declared = ticket.shipment.declared_value
    claim = Claim(ticket=ticket, franchise_id=ticket.franchise_id, shipment=ticket.shipment, status="submitted",
                  requested_amount=amount, declared_value=declared, chargeback_status="none",
                  created_by_id=getattr(user, "id", None), created_at=utcnow())
    db.session.add(claim)
    db.session.flush()  # the claim's number goes on the timeline
    body = _("Claim %(claim)s opened for %(amount)s (declared value %(declared)s).", claim=repr(claim),
             amount=money(amount), declared=money(declared) or _("unknown"))
    if over_declared(claim):
        body += " " + _("Above the declared value: only HQ can approve it.")
    if note:
        body += "\n" + note.strip()
    _line(claim, user, body, action="opened", amount=money(amount), over_declared=over_declared(claim))
    return claim


def assess(claim: Claim, amount, note: str | None, user) -> None:
    """The amount the assessor finds due (at most the requested amount)."""
    _require_owner(claim, user)
    _require_status(claim, ("submitted", "assessed"), _("assessed"))
    value = parse_amount(amount, "assessed_amount")
    if value > Decimal(claim.requested_amount):
        raise TicketError("assessed_amount", _l("more than the requested %(amount)s",
                                                amount=money(claim.requested_amount)))
    claim.assessed_amount = value
    claim.assessment_note = (note or "").strip() or None
    claim.assessed_by_id = getattr(user, "id", None)
    claim.status = "assessed"
    body = _("Claim %(claim)s assessed at %(amount)s.", claim=repr(claim), amount=money(value))
    _line(claim, user, body + (f"\n{claim.assessment_note}" if claim.assessment_note else ""),
          action="assessed", amount=money(value))


def approval_problem(claim: Claim, user) -> TicketError | None:
    """Why `user` may not approve the claim's amount (None: they may)."""
    if is_hq(user):
        return None
    amount = amount_to_approve(claim)
    if over_declared(claim):
        return TicketError("assessed_amount", _l("above the declared value of %(value)s: only HQ can approve it",
                                                 value=money(claim.declared_value)))
    limit = approval_limit(user, claim.franchise_id)
    if limit is None:
        return TicketError("assessed_amount", _l("you have no claim approval limit in this franchise"))
    if amount > Decimal(limit):
        return TicketError("assessed_amount", _l("above your approval limit of %(limit)s", limit=money(limit)))
    return None


def approve(claim: Claim, user) -> None:
    _require_owner(claim, user)
    _require_status(claim, ("submitted", "assessed"), _("approved"))
    problem = approval_problem(claim, user)
    if problem is not None:
        raise problem
    claim.status = "approved"
    claim.approved_by_id = getattr(user, "id", None)
    claim.approved_at = utcnow()
    amount = amount_to_approve(claim)
    _line(claim, user, _("Claim %(claim)s approved for %(amount)s.", claim=repr(claim), amount=money(amount)),
          action="approved", amount=money(amount))


def reject(claim: Claim, reason: str, user) -> None:
    _require_owner(claim, user)
    _require_status(claim, ("submitted", "assessed"), _("rejected"))
    reason = (reason or "").strip()
    if not reason:
        raise TicketError("rejection_reason", _l("required"))
    claim.status = "rejected"
    claim.rejection_reason = reason
    _line(claim, user, _("Claim %(claim)s rejected: %(reason)s", claim=repr(claim), reason=reason),
          action="rejected")


def pay(claim: Claim, amount, method: str, user) -> None:
    """Record the payout of an approved claim (at most the approved amount)."""
    _require_owner(claim, user)
    _require_status(claim, ("approved",), _("paid"))
    value = parse_amount(amount, "paid_amount")
    approved = amount_to_approve(claim)
    if value > approved:
        raise TicketError("paid_amount", _l("more than the approved %(amount)s", amount=money(approved)))
    if method not in PAYOUT_METHODS:
        raise TicketError("payout_method", _l("not one of: %(values)s", values=", ".join(PAYOUT_METHODS)))
    claim.paid_amount, claim.payout_method, claim.paid_at = value, method, utcnow()
    claim.status = "paid"
    _line(claim, user, _("Claim %(claim)s paid: %(amount)s by %(method)s.", claim=repr(claim), amount=money(value),
                         method=str(PAYOUT_METHODS[method])), action="paid", amount=money(value), method=method)


def chargeable_franchises(claim: Claim, user) -> set[int] | None:
    """Franchises the claim may be charged to: the parcel's origin and destination (None: any, for HQ)."""
    if is_hq(user):
        return None
    shipment = claim.shipment
    ids = {shipment.franchise_id, shipment.dest_franchise_id} if shipment is not None else set()
    return {i for i in ids if i is not None and i != claim.franchise_id}


def charge_back(claim: Claim, responsible_franchise_id, amount, user) -> None:
    """Charge (part of) the compensation to the franchise responsible for the loss or damage; it sees the
    claim from now on and accepts or disputes."""
    _require_owner(claim, user)
    _require_status(claim, ("approved", "paid"), _("charged back"))
    if claim.chargeback_status not in ("none", "disputed"):
        raise TicketError("chargeback_status", _l("the claim is already charged back"))
    if claim.chargeback_status == "disputed" and not is_hq(user):
        raise TicketError("chargeback_status", _l("a disputed charge-back is settled by HQ"))
    try:
        franchise_id = int(responsible_franchise_id)
    except (TypeError, ValueError):
        raise TicketError("responsible_franchise", _l("required")) from None
    allowed = chargeable_franchises(claim, user)
    if franchise_id == claim.franchise_id or (allowed is not None and franchise_id not in allowed):
        raise TicketError("responsible_franchise",
                          _l("must be the parcel's origin or destination franchise, other than the claim's own"))
    from core.tenancy import Franchise

    if db.session.get(Franchise, franchise_id) is None:
        raise TicketError("responsible_franchise", _l("no such franchise"))
    value = parse_amount(amount, "chargeback_amount")
    ceiling = Decimal(claim.paid_amount) if claim.paid_amount is not None else amount_to_approve(claim)
    if value > ceiling:
        raise TicketError("chargeback_amount", _l("more than the compensation of %(amount)s", amount=money(ceiling)))
    claim.responsible_franchise_id = franchise_id
    claim.chargeback_amount = value
    claim.chargeback_status = "pending"
    _line(claim, user, _("Claim %(claim)s charged back: %(amount)s to franchise %(franchise)s.", claim=repr(claim),
                         amount=money(value), franchise=str(db.session.get(Franchise, franchise_id))),
          action="charged_back", amount=money(value), responsible_franchise_id=franchise_id)


def _require_responsible(claim: Claim, user) -> None:
    if claim.responsible_franchise_id is None or not (
            is_hq(user) or _scope_of(user).allows(claim.responsible_franchise_id)):
        raise TicketError("claim", _l("only the charged franchise can answer a charge-back"))
    if claim.chargeback_status != "pending":
        raise TicketError("chargeback_status", _l("the charge-back is not waiting for an answer"))


def accept_chargeback(claim: Claim, user) -> None:
    _require_responsible(claim, user)
    claim.chargeback_status = "accepted"
    _line(claim, user, _("Charge-back of claim %(claim)s accepted.", claim=repr(claim)), action="chargeback_accepted")


def dispute_chargeback(claim: Claim, reason: str, user) -> None:
    _require_responsible(claim, user)
    reason = (reason or "").strip()
    if not reason:
        raise TicketError("reason", _l("required"))
    claim.chargeback_status = "disputed"
    _line(claim, user, _("Charge-back of claim %(claim)s disputed: %(reason)s", claim=repr(claim), reason=reason),
          action="chargeback_disputed", reason=reason)


def settle_chargeback(claim: Claim, user) -> None:
    """An accepted charge-back is settled by the claim's franchise or HQ; a disputed one only by HQ."""
    if claim.chargeback_status == "disputed":
        if not is_hq(user):
            raise TicketError("chargeback_status", _l("a disputed charge-back is settled by HQ"))
    elif claim.chargeback_status == "accepted":
        _require_owner(claim, user)
    else:
        raise TicketError("chargeback_status", _l("only an accepted or disputed charge-back can be settled"))
    claim.chargeback_status = "settled"
    _line(claim, user, _("Charge-back of claim %(claim)s settled.", claim=repr(claim)), action="chargeback_settled")
