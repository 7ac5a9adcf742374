"""Outbound webhooks, end to end: domain events go through the job outbox to a real HTTP server in a thread."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from core import events
from core.audit import AuditLog
from core.clock import utcnow
from core.extensions import db
from core.jobs import JobOutbox
from plugins.integrations.signing import hmac_signature
from plugins.integrations.webhooks.delivery import retry_due
from plugins.integrations.webhooks.models import WebhookDelivery, WebhookSubscription
from tests.conftest import add_user



@pytest.fixture(scope="module")
def b_admin(app):
    from core.tenancy import Franchise

    with app.app_context():
        b = db.session.scalars(select(Franchise).where(Franchise.code == "B")).one()
        add_user(app, "bit", "Franchise IT", franchises=[b])
    return "bit"


def english(client):
    client.get("/lang/en")  # the default interface language is Chinese
    return client


def subscribe(app, franchise_id, url, events_="*", name="partner", active=True) -> int:
    with app.app_context():
        subscription = WebhookSubscription(franchise_id=franchise_id, name=name, url=url, events=events_,
                                           active=active)
        db.session.add(subscription)
        db.session.commit()
        return subscription.id


def emit(app, event, franchise_id, payload):
    """Raise a domain event and commit: the outbox runs it (and the sends it queues) in this process."""
    with app.app_context():
        events.emit(event, franchise_id=franchise_id, payload=payload)
        db.session.commit()


def deliveries(app, subscription_id) -> list[WebhookDelivery]:
    with app.app_context():
        rows = db.session.scalars(select(WebhookDelivery).where(WebhookDelivery.subscription_id == subscription_id)
                                  .order_by(WebhookDelivery.id)).all()
        db.session.expunge_all()
        return rows


def secret_of(app, subscription_id) -> str:
    with app.app_context():
        return db.session.get(WebhookSubscription, subscription_id).secret


def run_retries(app, franchise_id, later: timedelta) -> int:
    with app.app_context():
        due = retry_due(franchise_id, now=utcnow() + later)
        db.session.commit()  # the queued sends run after this commit
        return due


def test_a_subscribed_url_receives_the_event_signed_with_its_secret(app, ids, receiver):
    sub_id = subscribe(app, ids["A"], receiver.url(), events_="shipment.exception", name="signed")
    emit(app, "shipment.exception", ids["A"], {"shipment_id": 101, "code": "E20"})
    emit(app, "ticket.created", ids["A"], {"ticket_id": 7})  # not subscribed

    assert len(receiver.requests) == 1
    sent = receiver.requests[0]
    headers, body = sent["headers"], sent["body"]
    assert headers["X-CRM-Event"] == "shipment.exception"
    timestamp = headers["X-CRM-Timestamp"]
    assert abs(int(timestamp) - int(utcnow().timestamp())) < 60
    assert headers["X-CRM-Signature"] == hmac_signature(secret_of(app, sub_id), timestamp, body)
    assert headers["X-CRM-Signature"] != hmac_signature("some other secret", timestamp, body)
    document = json.loads(body)
    assert document["event"] == "shipment.exception"
    assert document["data"].pop("event_id")  # every domain event carries its id
    assert document["data"] == {"shipment_id": 101, "code": "E20"}
    assert document["franchise"] == "A"

    [delivery] = deliveries(app, sub_id)
    assert headers["X-CRM-Delivery"] == delivery.uid == document["id"]
    assert (delivery.status, delivery.attempts, delivery.last_response_code) == ("delivered", 1, 200)
    assert delivery.delivered_at is not None and delivery.duration_ms is not None


def test_a_500_answer_is_retried_with_backoff_until_it_is_delivered(app, ids, receiver):
    receiver.answers = [500, 503, 200]
    sub_id = subscribe(app, ids["A"], receiver.url(), events_="ticket.closed", name="flaky")
    emit(app, "ticket.closed", ids["A"], {"ticket_id": 1})

    [delivery] = deliveries(app, sub_id)
    assert (delivery.status, delivery.attempts, delivery.last_response_code) == ("retrying", 1, 500)
    assert delivery.last_error == "HTTP 500"
    wait = (delivery.next_attempt_at - delivery.last_attempt_at).total_seconds()
    assert 55 <= wait <= 65  # first backoff: one minute

    assert run_retries(app, ids["A"], timedelta(seconds=30)) == 0  # not due yet
    assert len(receiver.requests) == 1
    assert run_retries(app, ids["A"], timedelta(seconds=90)) == 1
    [delivery] = deliveries(app, sub_id)
    assert (delivery.status, delivery.attempts, delivery.last_response_code) == ("retrying", 2, 503)
    wait = (delivery.next_attempt_at - delivery.last_attempt_at).total_seconds()
    assert 295 <= wait <= 305  # second backoff: five minutes

    assert run_retries(app, ids["A"], timedelta(minutes=10)) == 1
    [delivery] = deliveries(app, sub_id)
    assert (delivery.status, delivery.attempts, delivery.last_response_code) == ("delivered", 3, 200)
    assert [entry["code"] for entry in delivery.history] == [500, 503, 200]
    # every try carries the same delivery id, so the receiver can drop repeats
    assert len({r["headers"]["X-CRM-Delivery"] for r in receiver.requests}) == 1


def test_a_delivery_fails_when_the_backoff_is_used_up(app, ids, receiver):
    receiver.answers = [500]
    app.config["CRM_WEBHOOK_BACKOFF"] = [60]
    try:
        sub_id = subscribe(app, ids["A"], receiver.url(), events_="tier.changed", name="down")
        emit(app, "tier.changed", ids["A"], {"customer_id": 3, "tier": "gold"})
        run_retries(app, ids["A"], timedelta(minutes=5))
        run_retries(app, ids["A"], timedelta(minutes=10))
    finally:
        app.config.pop("CRM_WEBHOOK_BACKOFF")
    [delivery] = deliveries(app, sub_id)
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("failed", 2, None)
    assert len(receiver.requests) == 2


def test_the_same_domain_event_delivered_twice_gives_one_delivery(app, ids, receiver):
    sub_id = subscribe(app, ids["A"], receiver.url(), events_="survey.answered", name="once")
    payload = {"survey_id": 5, "answer_id": 77}
    emit(app, "survey.answered", ids["A"], payload)
    with app.app_context():  # the outbox's at-least-once repeat: the same job body runs again
        job = db.session.scalars(select(JobOutbox).where(JobOutbox.func == "core.events:deliver")
                                 .order_by(JobOutbox.id.desc())).first()
        events.deliver(*job.args)
        db.session.commit()
    assert len(deliveries(app, sub_id)) == 1
    assert len(receiver.requests) == 1
    emit(app, "survey.answered", ids["A"], {"survey_id": 5, "answer_id": 78})  # another answer
    assert len(deliveries(app, sub_id)) == 2


def test_a_manual_resend_sends_the_delivery_again(app, ids, receiver, client_for):
    sub_id = subscribe(app, ids["A"], receiver.url(), events_="shipment.delivered", name="resend")
    emit(app, "shipment.delivered", ids["A"], {"shipment_id": 9})
    [delivery] = deliveries(app, sub_id)
    assert delivery.status == "delivered"

    ait = client_for("ait")
    response = ait.post("/integrations/webhook-deliveries/action_post",
                        data={"action": "resend", "rowid": [str(delivery.id)]})
    assert response.status_code == 302
    assert len(receiver.requests) == 2
    assert receiver.requests[1]["headers"]["X-CRM-Delivery"] == delivery.uid
    [delivery] = deliveries(app, sub_id)
    assert (delivery.status, delivery.attempts) == ("delivered", 2)


def test_the_delivery_log_shows_response_codes_and_filters_by_status(app, ids, receiver, client_for):
    receiver.answers = [502]
    sub_id = subscribe(app, ids["A"], receiver.url(), events_="customers.merged", name="log-view")
    emit(app, "customers.merged", ids["A"], {"merge_id": 1, "survivor_id": 2, "merged_id": 3})
    [delivery] = deliveries(app, sub_id)
    ait = client_for("ait")
    page = ait.get(f"/integrations/webhook-deliveries/show/{delivery.id}").get_data(as_text=True)
    assert "502" in page and "HTTP 502" in page
    row_link = f"webhook-deliveries/show/{delivery.id}"
    listing = ait.get("/integrations/webhook-deliveries/list/?_flt_0_status=retrying").get_data(as_text=True)
    assert row_link in listing
    listing = ait.get("/integrations/webhook-deliveries/list/?_flt_0_status=cancelled").get_data(as_text=True)
    assert row_link not in listing


def test_franchise_b_events_never_reach_franchise_a_subscriptions(app, ids, receiver):
    sub_id = subscribe(app, ids["A"], receiver.url(), events_="*", name="a-everything")
    emit(app, "ticket.created", ids["B"], {"ticket_id": 99})
    assert deliveries(app, sub_id) == []
    assert receiver.requests == []


def test_a_deactivated_subscription_stops_its_retries(app, ids, receiver):
    receiver.answers = [500]
    sub_id = subscribe(app, ids["A"], receiver.url(), events_="customers.merge_undone", name="switched-off")
    emit(app, "customers.merge_undone", ids["A"], {"merge_id": 4})
    with app.app_context():
        db.session.get(WebhookSubscription, sub_id).active = False
        db.session.commit()
    run_retries(app, ids["A"], timedelta(hours=1))
    [delivery] = deliveries(app, sub_id)
    assert delivery.status == "cancelled"
    assert len(receiver.requests) == 1


def test_a_private_address_is_refused_when_the_setting_is_off(app, ids, receiver, client_for):
    sub_id = subscribe(app, ids["A"], receiver.url(), events_="ticket.created", name="internal")
    app.config["CRM_WEBHOOK_ALLOW_PRIVATE"] = False
    try:
        emit(app, "ticket.created", ids["A"], {"ticket_id": 12})
        response = english(client_for("ait")).post("/integrations/webhooks/add", data={
            "name": "metadata", "url": "http://169.254.169.254/latest", "events": ["*"], "active": "y",
            "franchise": ids["A"]},
            follow_redirects=True)
    finally:
        app.config["CRM_WEBHOOK_ALLOW_PRIVATE"] = True
    [delivery] = deliveries(app, sub_id)
    assert delivery.status == "failed" and "refused" in delivery.last_error
    assert receiver.requests == []  # nothing left the building
    assert "private and loopback addresses are not allowed" in response.get_data(as_text=True)


def test_a_bad_url_is_refused_naming_the_field(app, ids, client_for):
    ait = english(client_for("ait"))
    response = ait.post("/integrations/webhooks/add", data={
        "name": "ftp partner", "url": "ftp://partner.example.com/in", "events": ["ticket.created"], "active": "y",
        "franchise": ids["A"]},
        follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "URL: only http:// and https:// addresses can be called" in page
    with app.app_context():
        assert db.session.scalars(select(WebhookSubscription).where(
            WebhookSubscription.name == "ftp partner")).first() is None


def test_an_admin_adds_a_subscription_whose_secret_is_generated_and_revealed_audited(app, ids, client_for):
    ait = client_for("ait")
    response = ait.post("/integrations/webhooks/add", data={
        "name": "erp", "url": "https://erp.example.com/crm", "events": ["ticket.created", "ticket.closed"],
        "active": "y", "franchise": ids["A"]}, follow_redirects=True)
    assert response.status_code == 200
    with app.app_context():
        subscription = db.session.scalars(select(WebhookSubscription).where(WebhookSubscription.name == "erp")).one()
        assert subscription.franchise_id == ids["A"]  # the admin's only franchise
        assert subscription.events == "ticket.created,ticket.closed"
        secret, sub_id = subscription.secret, subscription.id
        assert secret and secret not in subscription.secret_enc  # stored encrypted
    assert secret not in response.get_data(as_text=True)  # not shown until asked for

    page = ait.post(f"/integrations/webhooks/action/reveal_secret/{sub_id}").get_data(as_text=True)
    assert secret in page
    with app.app_context():
        assert db.session.scalars(select(AuditLog).where(
            AuditLog.action == "reveal_secret", AuditLog.record_id == str(sub_id))).first() is not None
    # a frontline agent may not see it
    refused = client_for("alice").post(f"/integrations/webhooks/action/reveal_secret/{sub_id}")
    assert secret not in refused.get_data(as_text=True)


def test_send_a_test_event_from_the_subscription(app, ids, receiver, client_for):
    sub_id = subscribe(app, ids["A"], receiver.url(), events_="ticket.created", name="tested")
    client_for("ait").post("/integrations/webhooks/action_post", data={"action": "send_test", "rowid": [str(sub_id)]})
    assert len(receiver.requests) == 1
    assert receiver.requests[0]["headers"]["X-CRM-Event"] == "webhook.test"
    [delivery] = deliveries(app, sub_id)
    assert delivery.status == "delivered"


def test_users_of_franchise_b_cannot_see_franchise_a_subscriptions(app, ids, client_for, b_admin):
    sub_id = subscribe(app, ids["A"], "https://a-partner.example.com/x", name="a-secret-partner")
    assert "a-secret-partner" in client_for("ait").get("/integrations/webhooks/list/").get_data(as_text=True)
    bit = client_for(b_admin)
    assert "a-secret-partner" not in bit.get("/integrations/webhooks/list/").get_data(as_text=True)
    assert bit.get(f"/integrations/webhooks/show/{sub_id}").status_code == 404
    assert bit.post(f"/integrations/webhooks/action/reveal_secret/{sub_id}").status_code == 404
    assert "a-secret-partner" not in bit.get("/integrations/webhook-deliveries/list/").get_data(as_text=True)
