""""Recompute now" on the tier overview: an outlet manager recomputes their franchise from its shipments; the
job is recorded with who asked, and the overview then shows its tiers."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from core.clock import utcnow
from core.extensions import db
from core.jobs import JobOutbox
from core.tenancy import Franchise
from plugins.tiering.models import CustomerValue, TierRun
from tests.conftest import add_user
from tests.plugins.tiering.conftest import make_customer, make_shipment


@pytest.fixture(scope="module")
def shipped(app):
    with app.app_context():
        a = db.session.get(Franchise, app.config["TEST_IDS"]["A"])
        olga = add_user(app, "olga", "Outlet Manager", franchises=[a])
        now = utcnow()
        for n, fee in enumerate((5000, 300, 20)):
            customer = make_customer(a.id, name=f"发件人{n}")
            for day in range(3):
                make_shipment(a.id, customer=customer, fee=Decimal(fee), created_at=now - timedelta(days=day + 1))
        db.session.commit()
        return {"A": a.id, "olga": olga.id}


def test_outlet_manager_recomputes_their_franchise(app, client_for, shipped):
    olga = client_for("olga")
    olga.get("/lang/en")
    response = olga.post("/tiering/overview/recompute", data={"franchise": shipped["A"]}, follow_redirects=True)
    assert response.status_code == 200
    assert "Recompute queued" in response.get_data(as_text=True)
    with app.app_context():
        run = db.session.scalars(select(TierRun).where(TierRun.franchise_id == shipped["A"])).one()
        assert (run.trigger, run.status) == ("manual", "done")
        job = db.session.scalars(select(JobOutbox).where(JobOutbox.func.like("%recompute_job"))).one()
        assert (job.franchise_id, job.user_id) == (shipped["A"], shipped["olga"])  # who asked, for the job log
        tiers = db.session.scalars(select(CustomerValue.tier).where(CustomerValue.franchise_id == shipped["A"]))
        assert sorted(t for t in tiers if t) != []
    page = olga.get("/tiering/overview/").get_data(as_text=True)
    assert f'data-run-franchise="{shipped["A"]}"' in page and "On demand" in page


def test_recompute_needs_a_franchise(app, client_for, shipped):
    olga = client_for("olga")
    olga.get("/lang/en")
    response = olga.post("/tiering/overview/recompute", data={}, follow_redirects=True)
    assert "franchise: choose the franchise to recompute" in response.get_data(as_text=True)
