"""Claims screens: opening a claim from a ticket, evidence upload and download, approval refused above a
limit, and the charged franchise that sees the claims charged to it and no other claim of the owner."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from flask_appbuilder.security.sqla.models import User
from sqlalchemy import func, select

from core.extensions import db
from core.plugin_settings import save_settings
from core.plugins import registry
from core.tenancy import EVERYTHING, Franchise, scope_as
from plugins.tickets.claims import service
from plugins.tickets.claims.evidence import add_evidence as store_evidence
from plugins.tickets.claims.models import Claim, ClaimApprovalLimit, ClaimEvidence
from tests.conftest import add_user
from tests.plugins.tickets.conftest import make_customer, make_shipment, make_ticket

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n" + b"0" * 100


@pytest.fixture(scope="module")
def world(app):
    """Franchise A's claims: one charged back to B, one not; limits of A; evidence up to 1 MB in A."""
    with app.app_context(), scope_as(EVERYTHING):
        a, b = (db.session.scalars(select(Franchise).where(Franchise.code == code)).one() for code in ("A", "B"))
        add_user(app, "oma", "Outlet Manager", franchises=[a])
        add_user(app, "omb", "Outlet Manager", franchises=[b])
        db.session.add(ClaimApprovalLimit(franchise_id=a.id, role_name="Outlet Manager", max_amount=300))
        hq = db.session.scalars(select(User).where(User.username == "hq")).one()
        claims = {}
        for name, dest in (("charged", b.id), ("own", None)):
            customer = make_customer(a.id)
            parcel = make_shipment(a.id, customer=customer, declared_value=Decimal("1000"), dest_franchise_id=dest)
            ticket = make_ticket(a.id, subject="丢件", type="claim", category="lost", customer=customer,
                                 shipment=parcel)
            claims[name] = service.open_claim(ticket, "200", hq)
        service.approve(claims["charged"], hq)
        service.charge_back(claims["charged"], b.id, "150", hq)
        ticket = make_ticket(a.id, subject="破损", type="complaint", category="damaged",
                             shipment=make_shipment(a.id, declared_value=Decimal("500")))
        db.session.commit()
        save_settings(registry(), "tickets", a.id, {"max_evidence_mb": 1})
        return {"charged": claims["charged"].id, "own": claims["own"].id, "ticket": ticket.number}


def english(client):
    client.get("/lang/en")
    return client


def add_evidence(app, claim_id, name, content, content_type):
    with app.app_context():
        claim = db.session.get(Claim, claim_id)
        evidence = store_evidence(claim, name, content_type, io.BytesIO(content), None)
        db.session.commit()
        return evidence.id


def test_an_agent_opens_a_claim_from_a_ticket_and_a_negative_amount_is_a_form_error(app, world, client_for):
    client = english(client_for("alice"))
    refused = client.post("/tickets/claims/open", data={"ticket": world["ticket"], "requested_amount": "-20"})
    assert refused.status_code == 422 and b"requested_amount: must be more than 0" in refused.data
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Claim)) == 2
    opened = client.post("/tickets/claims/open", data={"ticket": world["ticket"], "requested_amount": "180"})
    assert opened.status_code == 302
    with app.app_context():
        claim = db.session.scalars(select(Claim).order_by(Claim.id.desc())).first()
        assert (claim.requested_amount, claim.declared_value) == (Decimal("180.00"), Decimal("500.00"))
        assert f"/tickets/claims/show/{claim.id}" in opened.headers["Location"]
    # bob of franchise B cannot open a claim on A's ticket: to him the ticket does not exist
    other = english(client_for("bob")).post("/tickets/claims/open", data={"ticket": world["ticket"],
                                                                          "requested_amount": "10"})
    assert other.status_code == 422 and b"No such ticket" in other.data


def test_evidence_is_a_photo_or_pdf_within_the_franchise_size_limit(app, world, client_for):
    client = english(client_for("alice"))
    url = f"/tickets/claims/upload/{world['own']}"
    too_big = b"\xff\xd8\xff\xe0" + b"\x00" * (1024 * 1024)
    response = client.post(url, data={"file": (io.BytesIO(too_big), "box.jpg", "image/jpeg")},
                           content_type="multipart/form-data")
    assert response.status_code == 422 and b"file: larger than 1 MB" in response.data
    response = client.post(url, data={"file": (io.BytesIO(b"MZ\x90\x00 not a photo"), "photo.png",
                                               "image/png")}, content_type="multipart/form-data")
    assert response.status_code == 422 and b"only JPEG, PNG or WebP photos and PDF documents" in response.data
    response = client.post(url, data={"file": (io.BytesIO(b"plain words"), "notes.txt", "text/plain")},
                           content_type="multipart/form-data")
    assert response.status_code == 422
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ClaimEvidence)
                                 .where(ClaimEvidence.claim_id == world["own"])) == 0
    response = client.post(url, data={"file": (io.BytesIO(PNG), "外箱.png", "image/png")},
                           content_type="multipart/form-data")
    assert response.status_code == 302
    with app.app_context():
        evidence = db.session.scalars(select(ClaimEvidence).where(ClaimEvidence.claim_id == world["own"])).one()
        assert (evidence.filename, evidence.content_type, evidence.size) == ("外箱.png", "image/png", len(PNG))
    download = client.get(f"/tickets/claims/evidence/{evidence.id}")
    assert download.status_code == 200 and download.mimetype == "image/png" and download.data == PNG
    page = client.get(f"/tickets/claims/show/{world['own']}")
    assert "外箱.png" in page.get_data(as_text=True)


def test_the_charged_franchise_sees_the_claim_charged_to_it_and_no_other(app, world, client_for):
    evidence_id = add_evidence(app, world["charged"], "scale.pdf", PDF, "application/pdf")
    own_evidence_id = add_evidence(app, world["own"], "inside.png", PNG, "image/png")
    client = english(client_for("bob"))
    listing = client.get("/tickets/claims/list/").get_data(as_text=True)
    assert f"C{world['charged']:08d}" in listing and f"C{world['own']:08d}" not in listing
    page = client.get(f"/tickets/claims/show/{world['charged']}")
    assert page.status_code == 200 and "scale.pdf" in page.get_data(as_text=True)
    download = client.get(f"/tickets/claims/evidence/{evidence_id}")
    assert download.status_code == 200 and download.mimetype == "application/pdf"
    assert client.get(f"/tickets/claims/show/{world['own']}").status_code == 404
    assert client.get(f"/tickets/claims/evidence/{own_evidence_id}").status_code == 404
    # reading is not deciding: B cannot add evidence to A's claim
    assert client.get(f"/tickets/claims/upload/{world['charged']}").status_code == 404


def test_an_outlet_manager_is_refused_above_the_limit_and_the_claim_is_unchanged(app, world, client_for):
    with app.app_context(), scope_as(EVERYTHING):
        hq = db.session.scalars(select(User).where(User.username == "hq")).one()
        ticket = make_ticket(world_franchise(app, "A"), subject="丢件", type="claim",
                             shipment=make_shipment(world_franchise(app, "A"), declared_value=Decimal("900")))
        claim_id = service.open_claim(ticket, "800", hq).id
        db.session.commit()
    client = english(client_for("oma"))
    refused = client.post(f"/tickets/claims/approve/{claim_id}")
    assert refused.status_code == 422 and b"above your approval limit of 300.00" in refused.data
    paid = client.post(f"/tickets/claims/pay/{claim_id}", data={"amount": "800", "method": "transfer"})
    assert paid.status_code == 422
    with app.app_context():
        claim = db.session.get(Claim, claim_id)
        assert (claim.status, claim.approved_by_id, claim.paid_amount) == ("submitted", None, None)
    assert client.post(f"/tickets/claims/assess/{claim_id}", data={"amount": "260", "note": "折旧"}).status_code == 302
    assert client.post(f"/tickets/claims/approve/{claim_id}").status_code == 302
    assert client.post(f"/tickets/claims/pay/{claim_id}", data={"amount": "260", "method": "wallet"}).status_code == 302
    with app.app_context():
        claim = db.session.get(Claim, claim_id)
        assert (claim.status, claim.paid_amount, claim.payout_method) == ("paid", Decimal("260.00"), "wallet")


def test_an_agent_cannot_approve_a_claim(app, world, client_for):
    client = english(client_for("alice"))
    response = client.post(f"/tickets/claims/approve/{world['own']}")
    assert response.status_code in (302, 403) and "/show/" not in response.headers.get("Location", "")
    with app.app_context():
        assert db.session.get(Claim, world["own"]).status == "submitted"
    page = client.get(f"/tickets/claims/show/{world['own']}").get_data(as_text=True)
    assert 'id="claim-approve"' not in page and 'id="claim-assess"' not in page


def test_franchise_it_sets_approval_limits_and_agents_do_not(app, world, client_for):
    client = english(client_for("ait"))
    response = client.post("/tickets/claim-limits/add", data={"role_name": "Frontline Agent", "max_amount": "50",
                                                                "franchise": world_franchise(app, "A")})
    assert response.status_code == 302
    with app.app_context():
        limit = db.session.scalars(select(ClaimApprovalLimit).where(
            ClaimApprovalLimit.role_name == "Frontline Agent")).one()
        assert limit.max_amount == Decimal("50.00") and limit.franchise_id == world_franchise(app, "A")
    refused = client.post("/tickets/claim-limits/add", data={"role_name": "Account Manager", "max_amount": "-1",
                                                             "franchise": world_franchise(app, "A")},
                          follow_redirects=True)
    assert b"must be 0 or more" in refused.data
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ClaimApprovalLimit).where(
            ClaimApprovalLimit.role_name == "Account Manager")) == 0
    agent = english(client_for("alice"))
    agent.post("/tickets/claim-limits/add", data={"role_name": "Frontline Agent", "max_amount": "99999",
                                                  "franchise": world_franchise(app, "A")})
    with app.app_context():
        assert db.session.scalar(select(func.max(ClaimApprovalLimit.max_amount)).where(
            ClaimApprovalLimit.role_name == "Frontline Agent")) == Decimal("50.00")


def world_franchise(app, code) -> int:
    return app.config["TEST_IDS"][code]


def test_the_charged_franchises_manager_accepts_the_charge_back_and_cannot_approve_or_pay(app, world, client_for):
    client = english(client_for("omb"))
    page = client.get(f"/tickets/claims/show/{world['charged']}").get_data(as_text=True)
    assert 'id="claim-accept_chargeback"' in page and 'id="claim-pay"' not in page
    refused = client.post(f"/tickets/claims/pay/{world['charged']}", data={"amount": "10", "method": "wallet"})
    assert refused.status_code == 422 and b"claim: only the claim&#39;s franchise can do this" in refused.data
    assert client.post(f"/tickets/claims/accept-charge-back/{world['charged']}").status_code == 302
    with app.app_context():
        claim = db.session.get(Claim, world["charged"])
        assert (claim.chargeback_status, claim.status, claim.paid_amount) == ("accepted", "approved", None)
