"""Claims: amounts checked, the declared value kept, approval within role limits (above the declared value
only HQ), no payout before approval, charge-back to the parcel's other franchise, which sees that claim."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from core.audit import AuditLog
from core.extensions import db
from core.tenancy import EVERYTHING, scope_as
from flask_appbuilder.security.sqla.models import User
from flask_babel import gettext
from plugins.tickets.claims import service
from plugins.tickets.claims.models import Claim, ClaimApprovalLimit
from plugins.tickets.models import TicketEvent
from plugins.tickets.workflow import TicketError
from tests.conftest import add_user
from tests.plugins.tickets.conftest import make_customer, make_shipment, make_ticket


@pytest.fixture(scope="module")
def people(app):
    """Outlet managers of A and B, and the approval limits of franchise A."""
    with app.app_context():
        from core.tenancy import Franchise

        a, b = (db.session.scalars(select(Franchise).where(Franchise.code == code)).one() for code in ("A", "B"))
        add_user(app, "oma", "Outlet Manager", franchises=[a])
        add_user(app, "omb", "Outlet Manager", franchises=[b])
        db.session.add_all([ClaimApprovalLimit(franchise_id=a.id, role_name="Outlet Manager", max_amount=300),
                            ClaimApprovalLimit(franchise_id=b.id, role_name="Outlet Manager", max_amount=100000)])
        db.session.commit()
    return {"oma": "oma", "omb": "omb"}


def user(name) -> User:
    return db.session.scalars(select(User).where(User.username == name)).one()


def claim_ticket(franchise_id, declared="1000", dest=None, type="claim", category="lost", shipment=True):
    customer = make_customer(franchise_id)
    parcel = make_shipment(franchise_id, customer=customer, declared_value=Decimal(declared),
                           dest_franchise_id=dest) if shipment else None
    return make_ticket(franchise_id, subject="丢件理赔", type=type, category=category, customer=customer,
                       shipment=parcel)


def claim_lines(ticket) -> list[TicketEvent]:
    return db.session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id,
                                                        TicketEvent.kind == "claim").order_by(TicketEvent.id)).all()


def test_a_claim_keeps_the_declared_value_and_leaves_a_timeline_line_and_an_audit_entry(app, ids, people):
    with app.app_context(), scope_as(EVERYTHING):
        ticket = claim_ticket(ids["A"], declared="800")
        claim = service.open_claim(ticket, "450.5", user("alice"), note="外箱破损")
        db.session.commit()
        ticket.shipment.declared_value = Decimal("5000")  # a later change does not move the claim's snapshot
        db.session.commit()
        claim = db.session.get(Claim, claim.id)
        assert (claim.status, claim.requested_amount, claim.declared_value) == ("submitted", Decimal("450.50"),
                                                                                Decimal("800.00"))
        assert claim.shipment_id == ticket.shipment_id and not service.over_declared(claim)
        assert [line.data["action"] for line in claim_lines(ticket)] == ["opened"]
        assert db.session.scalar(select(func.count()).select_from(AuditLog).where(
            AuditLog.model == "Claim", AuditLog.record_id == str(claim.id))) >= 1


@pytest.mark.parametrize("amount, problem", [(None, "required"), ("", "required"), ("abc", "not a number"),
                                             ("-5", "must be more than 0"), (0, "must be more than 0"),
                                             ("NaN", "not a number"), ("1e20", "too large")])
def test_a_claim_amount_that_is_missing_negative_or_not_a_number_is_refused(app, ids, people, amount, problem):
    with app.app_context(), scope_as(EVERYTHING):
        ticket = claim_ticket(ids["A"])
        with pytest.raises(TicketError) as refused:
            service.open_claim(ticket, amount, user("alice"))
        assert refused.value.field == "requested_amount" and str(refused.value.problem) == gettext(problem)
        assert db.session.scalar(select(func.count()).select_from(Claim).where(Claim.ticket_id == ticket.id)) == 0
        db.session.rollback()


def test_a_claim_needs_a_parcel_and_a_ticket_about_a_loss_or_damage(app, ids, people):
    with app.app_context(), scope_as(EVERYTHING):
        with pytest.raises(TicketError) as no_parcel:
            service.open_claim(claim_ticket(ids["A"], shipment=False), "100", user("alice"))
        assert no_parcel.value.field == "shipment"
        with pytest.raises(TicketError) as inquiry:
            service.open_claim(claim_ticket(ids["A"], type="inquiry", category=None), "100", user("alice"))
        assert inquiry.value.field == "ticket"
        damaged = claim_ticket(ids["A"], type="complaint", category="damaged")
        assert service.open_claim(damaged, "100", user("alice")).status == "submitted"
        with pytest.raises(TicketError) as twice:
            service.open_claim(damaged, "50", user("alice"))
        assert twice.value.field == "ticket"  # one live claim per ticket
        db.session.rollback()


def test_approving_above_the_role_limit_is_refused_and_changes_nothing(app, ids, people):
    with app.app_context(), scope_as(EVERYTHING):
        ticket = claim_ticket(ids["A"])
        claim = service.open_claim(ticket, "500", user("alice"))
        db.session.commit()
        lines_before = len(claim_lines(ticket))
        with pytest.raises(TicketError) as refused:
            service.approve(claim, user("oma"))
        assert refused.value.field == "assessed_amount"
        assert str(refused.value.problem) == gettext("above your approval limit of %(limit)s", limit="300.00")
        db.session.rollback()
        claim = db.session.get(Claim, claim.id)
        assert (claim.status, claim.approved_by_id, claim.approved_at) == ("submitted", None, None)
        assert len(claim_lines(ticket)) == lines_before
        # an agent has no limit at all in the franchise
        with pytest.raises(TicketError) as no_limit:
            service.approve(claim, user("alice"))
        assert str(no_limit.value.problem) == gettext("you have no claim approval limit in this franchise")
        # assessed within the limit, the outlet manager approves
        service.assess(claim, "280", "按申报价值比例赔付", user("oma"))
        service.approve(claim, user("oma"))
        db.session.commit()
        assert (claim.status, claim.assessed_amount, claim.approved_by_id) == ("approved", Decimal("280.00"),
                                                                              user("oma").id)
        assert [line.data["action"] for line in claim_lines(ticket)] == ["opened", "assessed", "approved"]


def test_an_amount_above_the_declared_value_is_submitted_but_only_hq_approves_it(app, ids, people):
    with app.app_context(), scope_as(EVERYTHING):
        ticket = claim_ticket(ids["B"], declared="200")
        claim = service.open_claim(ticket, "900", user("bob"))
        db.session.commit()
        assert claim.status == "submitted" and service.over_declared(claim)
        assert claim_lines(ticket)[0].data["over_declared"] is True
        # omb's limit of 100000 covers the amount, but not what the parcel's declared value does not cover
        with pytest.raises(TicketError) as over:
            service.approve(claim, user("omb"))
        assert str(over.value.problem) == gettext("above the declared value of %(value)s: only HQ can approve it",
                                                  value="200.00")
        db.session.rollback()
        # never paid without approval
        with pytest.raises(TicketError) as unpaid:
            service.pay(claim, "900", "transfer", user("omb"))
        assert unpaid.value.field == "status"
        db.session.rollback()
        service.approve(claim, user("hq"))
        service.pay(claim, "900", "transfer", user("omb"))
        db.session.commit()
        assert (claim.status, claim.paid_amount, claim.payout_method) == ("paid", Decimal("900.00"), "transfer")


def test_payouts_follow_the_approval_and_a_rejected_claim_stays_rejected(app, ids, people):
    with app.app_context(), scope_as(EVERYTHING):
        claim = service.open_claim(claim_ticket(ids["B"]), "300", user("bob"))
        with pytest.raises(TicketError) as early:
            service.pay(claim, "300", "wallet", user("omb"))
        assert early.value.field == "status"
        service.approve(claim, user("omb"))
        with pytest.raises(TicketError) as too_much:
            service.pay(claim, "300.01", "wallet", user("omb"))
        assert too_much.value.field == "paid_amount"
        with pytest.raises(TicketError) as method:
            service.pay(claim, "300", "cash_in_envelope", user("omb"))
        assert method.value.field == "payout_method" and claim.status == "approved"
        with pytest.raises(TicketError):
            service.reject(claim, "迟到的拒绝", user("omb"))  # approved: rejecting is no longer a step

        other = service.open_claim(claim_ticket(ids["B"]), "120", user("bob"))
        with pytest.raises(TicketError) as no_reason:
            service.reject(other, "  ", user("omb"))
        assert no_reason.value.field == "rejection_reason"
        service.reject(other, "包装完好，签收无异议", user("omb"))
        for step in (lambda: service.approve(other, user("hq")), lambda: service.assess(other, "10", "", user("omb")),
                     lambda: service.pay(other, "10", "wallet", user("hq"))):
            with pytest.raises(TicketError) as refused:
                step()
            assert refused.value.field == "status"
        assert other.status == "rejected" and other.approved_at is None
        db.session.rollback()


def test_assessing_more_than_was_asked_and_deciding_another_franchises_claim_are_refused(app, ids, people):
    with app.app_context(), scope_as(EVERYTHING):
        claim = service.open_claim(claim_ticket(ids["A"]), "200", user("alice"))
        with pytest.raises(TicketError) as more:
            service.assess(claim, "250", None, user("oma"))
        assert more.value.field == "assessed_amount"
        with pytest.raises(TicketError) as stranger:
            service.approve(claim, user("omb"))
        assert stranger.value.field == "claim" and claim.status == "submitted"
        db.session.rollback()


def test_a_charge_back_goes_to_the_parcels_other_franchise_which_accepts_or_disputes(app, ids, people):
    with app.app_context(), scope_as(EVERYTHING):
        ticket = claim_ticket(ids["A"], dest=ids["B"])
        claim = service.open_claim(ticket, "250", user("alice"))
        service.approve(claim, user("oma"))
        service.pay(claim, "250", "transfer", user("oma"))
        with pytest.raises(TicketError) as itself:
            service.charge_back(claim, ids["A"], "100", user("oma"))
        assert itself.value.field == "responsible_franchise"
        with pytest.raises(TicketError) as too_much:
            service.charge_back(claim, ids["B"], "250.01", user("oma"))
        assert too_much.value.field == "chargeback_amount"
        service.charge_back(claim, ids["B"], "200", user("oma"))
        assert (claim.chargeback_status, claim.responsible_franchise_id) == ("pending", ids["B"])
        with pytest.raises(TicketError) as not_theirs:
            service.accept_chargeback(claim, user("oma"))  # the claim's own franchise cannot answer for B
        assert not_theirs.value.field == "claim"
        service.dispute_chargeback(claim, "派件时外包装完好", user("omb"))
        with pytest.raises(TicketError) as not_hq:
            service.settle_chargeback(claim, user("oma"))
        assert not_hq.value.field == "chargeback_status" and claim.chargeback_status == "disputed"
        service.settle_chargeback(claim, user("hq"))
        assert claim.chargeback_status == "settled"
        assert [line.data["action"] for line in claim_lines(ticket)][-3:] == [
            "charged_back", "chargeback_disputed", "chargeback_settled"]
        db.session.commit()


def test_a_franchise_off_the_parcels_route_cannot_be_charged_except_by_hq(app, ids, people):
    with app.app_context(), scope_as(EVERYTHING):
        claim = service.open_claim(claim_ticket(ids["A"], dest=None), "100", user("alice"))
        service.approve(claim, user("oma"))
        with pytest.raises(TicketError) as refused:
            service.charge_back(claim, ids["B"], "100", user("oma"))
        assert refused.value.field == "responsible_franchise" and claim.chargeback_status == "none"
        service.charge_back(claim, ids["B"], "100", user("hq"))
        service.accept_chargeback(claim, user("bob"))
        service.settle_chargeback(claim, user("oma"))  # accepted: the claim's franchise settles
        assert claim.chargeback_status == "settled"
        db.session.rollback()
