"""The screens agents use all day: the fast intake form and its lookup, the ticket page with its timeline and
actions, and the queues ("my tickets", "my team's unassigned", "my alerts")."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from core.clock import utcnow
from core.extensions import db
from core.lowcode.models import CustomFieldDefinition
from core.tenancy import Franchise
from plugins.tickets.models import AgentAlert, Ticket, TicketEvent
from plugins.tickets.routing.models import Team, TeamMember
from tests.conftest import add_user
from tests.plugins.tickets.conftest import make_customer, make_shipment, make_ticket


@pytest.fixture(scope="module")
def desk(app):
    """Franchise A's inquiry team (alice, carol), a second team (dave), a customer with a parcel."""
    with app.app_context():
        a = db.session.get(Franchise, app.config["TEST_IDS"]["A"])
        carol = add_user(app, "carol", "Frontline Agent", franchises=[a])
        dave = add_user(app, "dave", "Frontline Agent", franchises=[a])
        alice = app.appbuilder.sm.find_user("alice")
        inquiries = Team(franchise_id=a.id, name="查件组", assignment="manual")
        claims = Team(franchise_id=a.id, name="理赔组", assignment="manual")
        db.session.add_all([inquiries, claims])
        db.session.flush()
        db.session.add_all([TeamMember(franchise_id=a.id, team_id=inquiries.id, user_id=alice.id),
                            TeamMember(franchise_id=a.id, team_id=inquiries.id, user_id=carol.id),
                            TeamMember(franchise_id=a.id, team_id=claims.id, user_id=dave.id)])
        customer = make_customer(a.id, name="杭州快货电商", phone="13800138000")
        shipment = make_shipment(a.id, customer=customer, waybill_no="YT9000000001")
        db.session.commit()
        facts = {"alice": alice.id, "carol": carol.id, "dave": dave.id, "team": inquiries.id,
                 "other_team": claims.id, "customer": customer.id, "shipment": shipment.id,
                 "waybill": shipment.waybill_no, "A": a.id}
    return facts


def english(client):
    client.get("/lang/en")
    return client


def ticket_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Ticket))


def ids_in_order(page: str) -> list[int]:
    return [int(v) for v in re.findall(r'data-ticket-id="(\d+)"', page)]


# --- the fast intake form --------------------------------------------------------------------------------


def test_agent_creates_a_ticket_through_the_fast_form_and_a_second_report_attaches(app, client_for, desk):
    agent = english(client_for("alice"))
    form = agent.get("/tickets/new").get_data(as_text=True)
    assert re.search(r'<input[^>]*id="tk-waybill"[^>]*autofocus', form)  # the cursor starts in the waybill
    assert 'accesskey="w"' in form and 'data-lookup-url="/tickets/lookup"' in form
    assert agent.get("/tickets/add").headers["Location"].endswith("/tickets/new")

    created = agent.post("/tickets/new", data={"waybill_no": desk["waybill"].lower(), "type": "inquiry",
                                               "priority": "normal", "channel": "phone", "subject": "包裹三天没更新",
                                               "reporter_role": "receiver", "reporter_name": "王小明",
                                               "reporter_phone": "13900139000"})
    assert created.status_code == 302
    ticket_id = int(created.headers["Location"].rsplit("/", 1)[1])
    with app.app_context():
        ticket = db.session.get(Ticket, ticket_id)
        assert (ticket.franchise_id, ticket.shipment_id, ticket.customer_id) == (desk["A"], desk["shipment"],
                                                                                 desk["customer"])
        assert ticket.reporter_role == "receiver" and ticket.created_by_id == desk["alice"]
    page = agent.get(f"/tickets/show/{ticket_id}").get_data(as_text=True)
    assert "created" in page and "包裹三天没更新" in page
    assert "139****9000" in page and "13900139000" not in page  # the reporter's phone masked
    assert "王*" in page and "王小明" not in page

    again = agent.post("/tickets/new", data={"waybill_no": desk["waybill"], "type": "complaint", "category": "delay",
                                             "subject": "寄件人也来催了", "priority": "high"},
                       follow_redirects=True)
    text = again.get_data(as_text=True)
    assert "already had open ticket" in text and f"T{ticket_id:08d}" in text
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Ticket).where(
            Ticket.shipment_id == desk["shipment"])) == 1
        assert db.session.get(Ticket, ticket_id).priority == "high"  # the louder report raised it


def test_fast_form_shows_errors_at_their_fields_and_stores_nothing(app, client_for, desk):
    agent = english(client_for("alice"))
    with app.app_context():
        before = ticket_count()
    response = agent.post("/tickets/new", data={"waybill_no": "NOSUCH123", "type": "complaint", "subject": "",
                                                "reporter_phone": "12345", "description": "kept text"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    for field in ("waybill_no", "subject", "category", "reporter_phone"):
        assert f'data-field="{field}"' in page, field
    assert "NOSUCH123 not found" in page and "kept text" in page  # what was typed stays
    with app.app_context():
        assert ticket_count() == before


def test_custom_fields_of_tickets_are_on_the_fast_form_and_checked(app, client_for, desk):
    with app.app_context():
        db.session.add(CustomFieldDefinition(entity="tk_ticket", key="parcel_count", label_zh="件数",
                                             label_en="Parcel count", field_type="integer", required=True,
                                             franchise_id=desk["A"]))
        db.session.commit()
        before = ticket_count()
    agent = english(client_for("alice"))
    assert 'name="cf_parcel_count"' in agent.get("/tickets/new").get_data(as_text=True)
    missing = agent.post("/tickets/new", data={"subject": "少件", "type": "inquiry"}).get_data(as_text=True)
    assert 'data-field="cf_parcel_count"' in missing
    wrong = agent.post("/tickets/new", data={"subject": "少件", "cf_parcel_count": "many"}).get_data(as_text=True)
    assert 'data-field="cf_parcel_count"' in wrong
    with app.app_context():
        assert ticket_count() == before
    done = agent.post("/tickets/new", data={"subject": "少件", "cf_parcel_count": "3"})
    assert done.status_code == 302
    with app.app_context():
        ticket = db.session.get(Ticket, int(done.headers["Location"].rsplit("/", 1)[1]))
        assert ticket.custom == {"parcel_count": 3}
        db.session.query(CustomFieldDefinition).filter_by(key="parcel_count").delete()
        db.session.commit()


def test_lookup_finds_the_parcel_its_customer_and_its_open_ticket(app, client_for, desk):
    with app.app_context():
        shipment = make_shipment(desk["A"], waybill_no="YT9000000077")
        ticket = make_ticket(desk["A"], shipment=shipment, waybill_no=shipment.waybill_no)
        db.session.commit()
        ticket_id = ticket.id
    agent = client_for("alice")
    found = agent.get("/tickets/lookup?waybill=yt9000000077").json
    assert [s["waybill_no"] for s in found["shipments"]] == ["YT9000000077"]
    assert found["open_ticket"]["id"] == ticket_id and found["open_ticket"]["url"] == f"/tickets/show/{ticket_id}"
    by_phone = agent.get("/tickets/lookup?phone=13800138000").json
    assert [c["id"] for c in by_phone["customers"]] == [desk["customer"]]
    assert agent.get("/tickets/lookup").status_code == 400
    other = client_for("bob").get("/tickets/lookup?waybill=YT9000000077").json
    assert other["shipments"] == [] and other["open_ticket"] is None


# --- the ticket page -------------------------------------------------------------------------------------


@pytest.fixture
def ticket_id(app, desk):
    with app.app_context():
        ticket = make_ticket(desk["A"], subject="派送员没打电话", type="complaint", category="delivery_service",
                             team_id=desk["team"], customer_id=desk["customer"])
        db.session.commit()
        return ticket.id


def test_timeline_shows_notes_as_internal_and_replies_as_sent_to_the_customer(app, client_for, ticket_id):
    agent = english(client_for("alice"))
    assert agent.post(f"/tickets/{ticket_id}/note", data={"body": "已联系网点核实"}).status_code == 302
    assert agent.post(f"/tickets/{ticket_id}/reply", data={"body": "您好，已为您催促派送"}).status_code == 302
    page = agent.get(f"/tickets/show/{ticket_id}").get_data(as_text=True)
    events = re.findall(r'<li class="tk-event tk-event-(\w+) (tk-internal|tk-public)">', page)
    assert [kind for kind, _ in events][:3] == ["created", "note", "reply"]  # oldest first
    assert dict(events)["note"] == "tk-internal" and dict(events)["reply"] == "tk-public"
    note_html = page.split("tk-event-note")[1].split("</li>")[0]
    assert "Internal" in note_html and "alice" in note_html and "已联系网点核实" in note_html
    assert "must be answered by" in page and "(7 days)" in page  # a complaint shows the regulator's deadline
    assert 'href="/customers/show/' in page
    with app.app_context():
        ticket = db.session.get(Ticket, ticket_id)
        assert ticket.status == "in_progress" and ticket.first_responded_at is not None


def test_resolving_without_a_resolution_code_is_refused_at_the_form_and_changes_nothing(app, client_for, ticket_id):
    agent = english(client_for("alice"))
    agent.post(f"/tickets/{ticket_id}/status", data={"status": "in_progress"})
    with app.app_context():
        events_before = db.session.scalar(select(func.count()).select_from(TicketEvent)
                                          .where(TicketEvent.ticket_id == ticket_id))
    refused = agent.post(f"/tickets/{ticket_id}/status", data={"status": "resolved", "note": "已派送"})
    page = refused.get_data(as_text=True)
    assert refused.status_code == 200
    assert 'data-form="status"' in page and "resolution code is required" in page
    with app.app_context():
        ticket = db.session.get(Ticket, ticket_id)
        assert ticket.status == "in_progress" and ticket.resolution_note is None
        assert db.session.scalar(select(func.count()).select_from(TicketEvent)
                                 .where(TicketEvent.ticket_id == ticket_id)) == events_before
    done = agent.post(f"/tickets/{ticket_id}/status", data={"status": "resolved", "resolution_code": "redelivered"},
                      follow_redirects=True)
    assert "Status changed." in done.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Ticket, ticket_id).status == "resolved"


def test_empty_reply_and_assignment_outside_the_team_are_refused(app, client_for, desk, ticket_id):
    agent = english(client_for("alice"))
    empty = agent.post(f"/tickets/{ticket_id}/reply", data={"body": "  "}).get_data(as_text=True)
    assert 'data-form="reply"' in empty
    outside = agent.post(f"/tickets/{ticket_id}/assign", data={"user_id": desk["dave"]}).get_data(as_text=True)
    assert 'data-form="assign"' in outside and "not a member" in outside
    with app.app_context():
        assert db.session.get(Ticket, ticket_id).assignee_id is None
    assert agent.post(f"/tickets/{ticket_id}/assign", data={"user_id": desk["carol"]}).status_code == 302
    assert agent.post(f"/tickets/{ticket_id}/priority", data={"priority": "urgent"}).status_code == 302
    assert agent.post(f"/tickets/{ticket_id}/customer_message", data={"body": "还没到", "channel": "wechat"}
                      ).status_code == 302
    with app.app_context():
        ticket = db.session.get(Ticket, ticket_id)
        assert (ticket.assignee_id, ticket.priority) == (desk["carol"], "urgent")
        kinds = db.session.scalars(select(TicketEvent.kind).where(TicketEvent.ticket_id == ticket_id)).all()
        assert {"assigned", "priority", "customer_reply"} <= set(kinds)


def test_an_agent_of_another_franchise_gets_404_and_changes_nothing(app, client_for, ticket_id):
    other = client_for("bob")
    assert other.get(f"/tickets/show/{ticket_id}").status_code == 404
    assert other.post(f"/tickets/{ticket_id}/note", data={"body": "看看"}).status_code == 404
    assert other.post(f"/tickets/{ticket_id}/status", data={"status": "in_progress"}).status_code == 404
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(TicketEvent).where(
            TicketEvent.ticket_id == ticket_id, TicketEvent.kind != "created")) == 0


def test_readers_see_tickets_but_cannot_work_them(app, client_for, ticket_id):
    it = client_for("ait")
    page = it.get(f"/tickets/show/{ticket_id}").get_data(as_text=True)
    assert "tk-timeline" in page and 'id="tk-form-reply"' not in page
    assert it.post(f"/tickets/{ticket_id}/reply", data={"body": "hi"}).status_code == 403
    assert it.get("/tickets/list/").status_code == 200


# --- queues ----------------------------------------------------------------------------------------------


def test_my_tickets_lists_only_mine_open_by_due_with_paused_last(app, client_for, desk):
    now = utcnow()
    with app.app_context():
        db.session.execute(Ticket.__table__.update().values(is_open=False))  # earlier tests' tickets aside
        mine = dict(later=make_ticket(desk["A"], assignee_id=desk["alice"], status="assigned",
                                      resolution_due=now + timedelta(hours=5)),
                    overdue=make_ticket(desk["A"], assignee_id=desk["alice"], status="assigned",
                                        resolution_due=now - timedelta(hours=1)),
                    first_response=make_ticket(desk["A"], assignee_id=desk["alice"], status="assigned",
                                               first_response_due=now + timedelta(hours=1),
                                               resolution_due=now + timedelta(hours=9)),
                    no_due=make_ticket(desk["A"], assignee_id=desk["alice"], status="assigned"),
                    paused=make_ticket(desk["A"], assignee_id=desk["alice"], status="waiting", sla_paused=True,
                                       resolution_due=now - timedelta(hours=3)))
        closed = make_ticket(desk["A"], assignee_id=desk["alice"], status="closed", is_open=False)
        carols = make_ticket(desk["A"], assignee_id=desk["carol"], resolution_due=now)
        db.session.commit()
        expected = [mine[k].id for k in ("overdue", "first_response", "later", "no_due", "paused")]
        hidden = {closed.id, carols.id}
    page = english(client_for("alice")).get("/tickets/queue/mine").get_data(as_text=True)
    assert ids_in_order(page) == expected and not hidden & set(ids_in_order(page))
    assert "5 tickets" in page and "1 overdue" in page  # the paused one is not counted overdue
    assert english(client_for("carol")).get("/tickets/queue/mine").get_data(as_text=True).count(
        "data-ticket-id=") == 1


def test_team_queue_lists_my_teams_unassigned_tickets_by_due(app, client_for, desk):
    now = utcnow()
    with app.app_context():
        db.session.execute(Ticket.__table__.update().values(is_open=False))
        soon = make_ticket(desk["A"], team_id=desk["team"], resolution_due=now + timedelta(minutes=30))
        sooner = make_ticket(desk["A"], team_id=desk["team"], first_response_due=now + timedelta(minutes=10),
                             resolution_due=now + timedelta(hours=8))
        taken = make_ticket(desk["A"], team_id=desk["team"], assignee_id=desk["carol"], resolution_due=now)
        other_team = make_ticket(desk["A"], team_id=desk["other_team"], resolution_due=now)
        db.session.commit()
        expected, hidden = [sooner.id, soon.id], {taken.id, other_team.id}
    agent = english(client_for("alice"))
    page = agent.get("/tickets/queue/team").get_data(as_text=True)
    assert ids_in_order(page) == expected and not hidden & set(ids_in_order(page))
    assert "2 tickets" in page and "0 overdue" in page and "查件组" in page
    # "Take" assigns the ticket to me and comes back to the queue
    took = agent.post(f"/tickets/{sooner.id}/assign", data={"user_id": desk["alice"], "next": "/tickets/queue/team"})
    assert took.headers["Location"].endswith("/tickets/queue/team")
    assert ids_in_order(agent.get("/tickets/queue/team").get_data(as_text=True)) == [soon.id]
    assert sooner.id in ids_in_order(agent.get("/tickets/queue/mine").get_data(as_text=True))


def test_alerts_are_mine_unread_first_and_can_be_marked_read(app, client_for, desk):
    now = utcnow()
    with app.app_context():
        ticket = make_ticket(desk["A"], subject="超时预警")
        rows = [AgentAlert(franchise_id=desk["A"], user_id=desk["alice"], ticket_id=ticket.id, kind="sla_warning",
                           message="old read", created_at=now - timedelta(hours=3), read_at=now),
                AgentAlert(franchise_id=desk["A"], user_id=desk["alice"], ticket_id=ticket.id, kind="sla_breach",
                           message="first unread", created_at=now - timedelta(hours=2)),
                AgentAlert(franchise_id=desk["A"], user_id=desk["alice"], ticket_id=ticket.id, kind="assigned",
                           message="second unread", created_at=now - timedelta(hours=1)),
                AgentAlert(franchise_id=desk["A"], user_id=desk["carol"], ticket_id=ticket.id, kind="assigned",
                           message="carol's")]
        db.session.add_all(rows)
        db.session.commit()
        alert_ids = [r.id for r in rows]
    agent = english(client_for("alice"))
    page = agent.get("/tickets/queue/alerts").get_data(as_text=True)
    shown = [int(v) for v in re.findall(r'data-alert-id="(\d+)"', page)]
    assert shown == [alert_ids[2], alert_ids[1], alert_ids[0]] and "2 unread" in page
    agent.post("/tickets/queue/alerts/read", data={"alert_id": [alert_ids[1], alert_ids[3]]})
    with app.app_context():
        read = {a.id: a.read_at for a in db.session.scalars(select(AgentAlert))}
        assert read[alert_ids[1]] is not None and read[alert_ids[2]] is None
        assert read[alert_ids[3]] is None  # someone else's alert stays unread
    agent.post("/tickets/queue/alerts/read", data={"all": "1"})
    assert "0 unread" in agent.get("/tickets/queue/alerts").get_data(as_text=True)
    with app.app_context():
        assert db.session.get(AgentAlert, alert_ids[3]).read_at is None


def test_menu_offers_the_desk_and_pages_are_keyboard_ready(client_for):
    agent = english(client_for("alice"))
    home = agent.get("/").get_data(as_text=True)
    for href in ("/tickets/list/", "/tickets/new", "/tickets/queue/mine", "/tickets/queue/team",
                 "/tickets/queue/alerts"):
        assert f'href="{href}"' in home, href
    assert agent.get("/tickets-static/desk/desk.js").status_code == 200
    assert "tk-queue" in agent.get("/tickets/queue/mine").get_data(as_text=True)


def test_a_claim_ticket_page_lists_its_claims_and_offers_to_open_one(app, client_for, desk):
    from decimal import Decimal

    from plugins.tickets.claims.models import Claim

    with app.app_context():
        ticket = make_ticket(desk["A"], subject="外包装破损", type="claim", category="damaged")
        claim = Claim(franchise_id=desk["A"], ticket=ticket, requested_amount=Decimal("120.00"))
        db.session.add(claim)
        db.session.commit()
        ticket_id, number, claim_id = ticket.id, ticket.number, claim.id
    page = english(client_for("alice")).get(f"/tickets/show/{ticket_id}").get_data(as_text=True)
    assert f'href="/tickets/claims/show/{claim_id}"' in page and "120.00" in page
    assert f"/tickets/claims/open?ticket={number}" in page


def test_the_ticket_page_suggests_a_canned_reply_for_the_customers_words(app, client_for, desk):
    from plugins.tickets.kb.models import CannedReply, ReplyRule

    with app.app_context():
        reply = CannedReply(franchise_id=desk["A"], language="zh", title="查件答复",
                            body="您好，运单 {waybill_no} 正在派送。")
        db.session.add_all([reply, ReplyRule(franchise_id=desk["A"], keywords="到哪,物流", canned_reply=reply)])
        asked = make_ticket(desk["A"], subject="查件", description="请问我的快递到哪了？", waybill_no="YT9000000001")
        other = make_ticket(desk["A"], subject="发票", description="需要开发票")
        db.session.commit()
        asked_id, other_id = asked.id, other.id
    agent = english(client_for("alice"))
    page = agent.get(f"/tickets/show/{asked_id}").get_data(as_text=True)
    assert 'data-insert-text="您好，运单 YT9000000001 正在派送。"' in page and "查件答复" in page
    assert "data-insert-text" not in agent.get(f"/tickets/show/{other_id}").get_data(as_text=True)
