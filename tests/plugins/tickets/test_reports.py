"""Ticket reports on a small hand-made network with known answers: counts by type, category, franchise and
transfer centre over local days, weeks and months; response times; SLA attainment; FCR; backlog age; complaint
rate; the report page, its CSV, the dashboard widgets and the customer 360 panel, each within the viewer's scope."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timedelta

import pytest

from core.clock import utcnow
from core.extensions import db
from core.tenancy import EVERYTHING, Scope
from plugins.tickets.models import TicketEvent
from plugins.tickets.reports import metrics
from plugins.tickets.reports.periods import days_utc
from tests.plugins.tickets.conftest import make_customer, make_shipment, make_ticket

# March 2024 in local time (Asia/Shanghai, UTC+8): [2024-02-29 16:00, 2024-03-31 16:00) UTC
MARCH = days_utc(datetime(2024, 3, 1).date(), datetime(2024, 3, 31).date())
NOW = datetime(2024, 3, 10, 12, 0)
H = timedelta(hours=1)


def _resolved(franchise_id, created, first_h, resolved_h=None, replies=1, **values):
    ticket = make_ticket(franchise_id, created_at=created, first_responded_at=created + first_h * H, **values)
    if resolved_h is not None:
        ticket.resolved_at = created + resolved_h * H
        ticket.status, ticket.is_open = "resolved", False
    else:
        ticket.status = "in_progress"
    for n in range(replies):
        db.session.add(TicketEvent(ticket=ticket, franchise_id=franchise_id, kind="reply", internal=False,
                                   at=created + (first_h + n) * H, body="您好"))
    return ticket


@pytest.fixture(scope="module")
def network(app):
    ids = app.config["TEST_IDS"]
    a, b = ids["A"], ids["B"]
    with app.app_context():
        # franchise A, created in March (local): FRT 1, 2, 3, 4 h; TTR 10, 20, 30 h
        _resolved(a, datetime(2024, 3, 1, 0, 0), 1, 10, type="complaint", category="delay",
                  transfer_centre="杭州转运中心")
        _resolved(a, datetime(2024, 3, 1, 20, 0), 2, 20, replies=2, type="inquiry", resolution_breached=True,
                  transfer_centre="杭州转运中心")  # local time 2 March 04:00
        _resolved(a, datetime(2024, 3, 5, 2, 0), 3, 30, type="complaint", category="lost", reopened_count=1)
        _resolved(a, datetime(2024, 3, 10, 2, 0), 4, type="inquiry")  # still open
        # outside the period: local 29 February 23:00, and 1 April 00:30
        _resolved(a, datetime(2024, 2, 29, 15, 0), 1, 1, type="claim")
        _resolved(a, datetime(2024, 3, 31, 16, 30), 1, 1, type="complaint")
        for day in (1, 2, 15, 31):
            make_shipment(a, created_at=datetime(2024, 3, day, 1, 0))
        make_shipment(a, created_at=datetime(2024, 2, 20))
        # franchise B: a complaint that must not appear in A's figures, and open tickets of every age
        _resolved(b, datetime(2024, 3, 2, 1, 0), 100, 200, type="complaint", category="damaged",
                  first_response_breached=True)
        for created in (datetime(2024, 3, 10, 0, 0), datetime(2024, 3, 8, 12, 0), datetime(2024, 3, 5, 12, 0),
                        datetime(2024, 2, 20)):
            make_ticket(b, created_at=created, type="inquiry")
        make_shipment(b, created_at=datetime(2024, 3, 3))
        db.session.commit()
    return ids


def only(franchise_id):
    return Scope(False, frozenset({franchise_id}))


def test_counts_by_type_per_local_day_week_and_month(app, network):
    a = only(network["A"])
    with app.app_context():
        assert metrics.ticket_counts(a, *MARCH, "type", "day") == [
            ("2024-03-01", "complaint", 1), ("2024-03-02", "inquiry", 1), ("2024-03-05", "complaint", 1),
            ("2024-03-10", "inquiry", 1)]
        assert metrics.ticket_counts(a, *MARCH, "type", "week") == [
            ("2024-02-26", "complaint", 1), ("2024-02-26", "inquiry", 1), ("2024-03-04", "complaint", 1),
            ("2024-03-04", "inquiry", 1)]
        assert metrics.ticket_counts(a, *MARCH, "type", "month") == [
            ("2024-03-01", "complaint", 2), ("2024-03-01", "inquiry", 2)]


def test_counts_by_category_franchise_and_transfer_centre(app, network):
    a = only(network["A"])
    with app.app_context():
        by_category = {k: n for _, k, n in metrics.ticket_counts(a, *MARCH, "category", "month")}
        assert by_category == {None: 2, "delay": 1, "lost": 1}
        by_centre = {k: n for _, k, n in metrics.ticket_counts(a, *MARCH, "transfer_centre", "month")}
        assert by_centre == {None: 2, "杭州转运中心": 2}
        by_franchise = {k: n for _, k, n in metrics.ticket_counts(EVERYTHING, *MARCH, "franchise", "month")}
        assert by_franchise == {network["A"]: 4, network["B"]: 4}  # B: the complaint and three open ones


def test_first_response_and_resolution_median_and_p90_in_hours(app, network):
    with app.app_context():
        times = metrics.response_times(only(network["A"]), *MARCH)
    assert times["first_response"] == metrics.Spread(2.5, 3.7, 4)
    assert times["resolution"] == metrics.Spread(20.0, 28.0, 3)


def test_response_times_of_a_period_without_tickets_are_empty(app, network):
    with app.app_context():
        times = metrics.response_times(only(network["A"]), datetime(2023, 1, 1), datetime(2023, 2, 1))
    assert times["first_response"] == metrics.Spread(None, None, 0)


def test_sla_attainment_counts_resolved_tickets_without_any_breach(app, network):
    with app.app_context():
        rate = metrics.sla_attainment(only(network["A"]), *MARCH)
        assert (rate.numerator, rate.denominator, rate.value) == (2, 3, 66.67)
        assert metrics.sla_attainment(only(network["B"]), *MARCH).value == 0.0


def test_first_contact_resolution_needs_one_reply_and_no_reopen(app, network):
    with app.app_context():
        rate = metrics.first_contact_resolution(only(network["A"]), *MARCH)
    assert (rate.numerator, rate.denominator, rate.value) == (1, 3, 33.33)


def test_backlog_age_buckets_of_open_tickets(app, network):
    with app.app_context():
        assert metrics.backlog_age(only(network["B"]), now=NOW) == {"lt_1d": 1, "1_3d": 1, "3_7d": 1, "gt_7d": 1}
        assert metrics.backlog_age(only(network["A"]), now=NOW) == {"lt_1d": 1, "1_3d": 0, "3_7d": 0, "gt_7d": 0}


def test_complaint_rate_per_ten_thousand_parcels(app, network):
    with app.app_context():
        rate = metrics.complaint_rate(only(network["A"]), *MARCH)
        assert (rate.numerator, rate.denominator, rate.value) == (2, 4, 5000.0)
        assert metrics.complaint_rate(only(network["A"]), datetime(2023, 1, 1), datetime(2023, 2, 1)).value is None


def test_report_page_shows_the_figures_of_the_viewers_franchise(client_for, network):
    ait = client_for("ait")
    ait.get("/lang/en")
    page = ait.get("/tickets/reports/?start=2024-03-01&end=2024-03-31&bucket=month").get_data(as_text=True)
    assert re.search(r'data-figure="tickets">.*?<span style="font-size: 2em">4</span>', page, re.S)
    assert re.search(r'data-figure="frt">.*?2\.5 / 3\.7', page, re.S)
    assert re.search(r'data-figure="sla">.*?66\.67', page, re.S)
    assert re.search(r'data-figure="complaints">.*?5000\.0', page, re.S)
    assert "/crm-static/vendor/echarts/echarts.min.js" in page and 'class="crm-chart"' in page
    assert "Damaged" not in page  # B's complaint


def test_report_refuses_a_franchise_outside_scope_and_bad_dates(client_for, network):
    alice = client_for("ait")
    response = alice.get(f"/tickets/reports/?franchise={network['B']}")
    assert response.status_code == 400 and 'data-field="franchise"' in response.get_data(as_text=True)
    response = alice.get("/tickets/reports/?start=2024-13-01")
    assert response.status_code == 400 and 'data-field="start"' in response.get_data(as_text=True)
    assert alice.get("/tickets/reports/?start=2024-03-05&end=2024-03-01").status_code == 400


def test_hq_filters_by_franchise_and_exports_the_table_as_csv(client_for, network):
    hq = client_for("hq")
    hq.get("/lang/en")
    response = hq.get(f"/tickets/reports/export.csv?start=2024-03-01&end=2024-03-31&bucket=month&dimension=category"
                      f"&franchise={network['B']}")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0] == ["Month", "Complaint category", "Tickets"]
    assert sorted(rows[1:]) == [["2024-03-01", "(none)", "3"], ["2024-03-01", "Damaged (损毁)", "1"]]


def test_frontline_agent_has_no_report_page(client_for, network):
    assert client_for("bob").get("/tickets/reports/").status_code == 403


def _widget(page, key):
    match = re.search(rf'data-widget="{re.escape(key)}">.*?<span style="font-size: 2.4em">(.*?)</span>', page, re.S)
    return match and match.group(1)


def test_dashboard_widgets_count_the_viewers_franchise(app, client_for, network):
    now = utcnow()
    with app.app_context():
        open_a = metrics.open_tickets(only(network["A"]))
        _resolved(network["B"], now - 2 * H, 1, 1, type="complaint")
        _resolved(network["B"], now - 2 * H, 1, 1, type="inquiry", resolution_breached=True)
        db.session.commit()
        open_b = metrics.open_tickets(only(network["B"]))
    alice_page = client_for("alice").get("/").get_data(as_text=True)
    bob_page = client_for("bob").get("/").get_data(as_text=True)
    assert _widget(alice_page, "tickets.open") == str(open_a) == "1"
    assert _widget(bob_page, "tickets.open") == str(open_b) == "4"
    assert _widget(bob_page, "tickets.sla_month") == "50.0"
    assert 'data-widget="tickets.by_type_30d"' in bob_page and 'class="crm-chart"' in bob_page
    assert _widget(alice_page, "tickets.complaint_rate_month") == "—"  # no parcels this month


def test_customer_panel_lists_the_customers_tickets_escaped_with_links(app, client_for, network):
    with app.app_context():
        customer = make_customer(network["A"], name="王小明", kind="C")
        older = make_ticket(network["A"], subject="<b>包裹</b>破损", customer=customer, type="complaint",
                            created_at=datetime(2024, 3, 1), resolution_due=datetime(2024, 3, 2, 1, 0))
        newer = make_ticket(network["A"], subject="查件", customer=customer, created_at=datetime(2024, 3, 3))
        db.session.commit()
        customer_id, older_id, newer_id = customer.id, older.id, newer.id
    page = client_for("alice").get(f"/customers/show/{customer_id}").get_data(as_text=True)
    panel = re.search(r'<table class="table table-condensed" data-panel="tickets">(.*?)</table>', page, re.S).group(1)
    assert panel.index(f'href="/tickets/show/{newer_id}"') < panel.index(f'href="/tickets/show/{older_id}"')
    assert "&lt;b&gt;包裹&lt;/b&gt;破损" in panel and "<b>包裹" not in panel
    assert "2024-03-02 09:00" in panel  # the due time in local time
    assert client_for("bob").get(f"/customers/show/{customer_id}").status_code == 404
