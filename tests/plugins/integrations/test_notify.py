"""Messages to customers through `crm_send_message`: opt-out, daily limit, log and HTTP gateways."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from core.extensions import db
from core.models import Customer
from core.plugin_settings import save_settings
from core.plugins import registry
from plugins.integrations.notify.models import Message

PHONE = "13812345678"



def add_customer(app, franchise_id, name="王小明", phone=PHONE, opt_out=False) -> int:
    with app.app_context():
        customer = Customer(franchise_id=franchise_id, kind="C", name=name, phone=phone, marketing_opt_out=opt_out)
        db.session.add(customer)
        db.session.commit()
        return customer.id


def send(app, franchise_id, customer_id, purpose="service", channel="sms", template="PARCEL_DELAYED",
         params=None) -> dict:
    """Call the hook as another plugin does, inside a transaction, then commit (the send runs after it)."""
    with app.app_context():
        answer = registry().hook.crm_send_message(
            franchise_id=franchise_id, customer_id=customer_id, channel=channel, template=template,
            params=params if params is not None else {"waybill": "SF1234567890"}, purpose=purpose)
        db.session.commit()
        return answer


def message(app, message_id) -> Message:
    with app.app_context():
        row = db.session.get(Message, message_id)
        db.session.expunge(row)
        return row


def configure(app, franchise_id, **values):
    with app.app_context():
        stored, errors = save_settings(registry(), "integrations", franchise_id, values)
        assert not errors, errors


def test_the_log_backend_records_a_sent_message_shown_with_a_masked_phone(app, ids, client_for):
    customer_id = add_customer(app, ids["A"])
    answer = send(app, ids["A"], customer_id, params={"waybill": "SF0001"})
    assert answer["status"] == "queued"
    sent = message(app, answer["message_id"])
    assert (sent.status, sent.backend, sent.channel, sent.purpose) == ("sent", "log", "sms", "service")
    assert sent.sent_at is not None and sent.provider_message_id == f"log-{sent.id}"
    assert PHONE not in (sent.recipient_enc or "")  # encrypted at rest

    page = client_for("ait").get("/integrations/messages/list/").get_data(as_text=True)
    assert "138****5678" in page
    assert PHONE not in page
    shown = client_for("ait").get(f"/integrations/messages/show/{sent.id}").get_data(as_text=True)
    assert "138****5678" in shown and PHONE not in shown and "SF0001" in shown


def test_an_opted_out_customer_gets_service_notices_but_no_survey_or_marketing(app, ids):
    customer_id = add_customer(app, ids["A"], name="李四", phone="13900001111", opt_out=True)
    for purpose in ("survey", "marketing"):
        answer = send(app, ids["A"], customer_id, purpose=purpose, template="NPS_1")
        assert answer["status"] == "opted_out"
        assert message(app, answer["message_id"]).status == "opted_out"  # logged, nothing sent
    answer = send(app, ids["A"], customer_id, purpose="service")
    assert message(app, answer["message_id"]).status == "sent"


def test_the_daily_limit_stops_the_fourth_message(app, ids):
    customer_id = add_customer(app, ids["A"], name="赵六", phone="13700002222")
    statuses = [send(app, ids["A"], customer_id, template=f"T{n}")["status"] for n in range(4)]
    assert statuses == ["queued", "queued", "queued", "rate_limited"]
    with app.app_context():
        logged = db.session.scalars(select(Message.status).where(Message.customer_id == customer_id)
                                    .order_by(Message.id)).all()
    assert logged == ["sent", "sent", "sent", "rate_limited"]


def test_the_http_backend_posts_with_the_token_and_records_a_failure(app, ids, receiver):
    customer_id = add_customer(app, ids["B"], name="孙七", phone="13600003333")
    configure(app, ids["B"], message_backend="http", message_http_url=receiver.url("/sms"),
              message_http_token="gw-token-123")
    try:
        answer = send(app, ids["B"], customer_id, channel="wechat", template="TICKET_CLOSED", params={"no": "T-9"})
        sent = message(app, answer["message_id"])
        assert (sent.status, sent.backend, sent.provider_message_id) == ("sent", "http", "gw-1")
        [request] = receiver.requests
        assert request["path"] == "/sms"
        assert request["headers"]["Authorization"] == "Bearer gw-token-123"
        body = json.loads(request["body"])
        assert body == {"message_id": sent.id, "channel": "wechat", "template": "TICKET_CLOSED",
                        "params": {"no": "T-9"}, "phone": "13600003333", "purpose": "service"}

        receiver.answers = [500]
        failed = message(app, send(app, ids["B"], customer_id, template="TICKET_CLOSED")["message_id"])
        assert failed.status == "failed" and failed.error.startswith("HTTP 500")
        assert failed.sent_at is None
    finally:
        configure(app, ids["B"], message_backend="log")


def test_a_customer_of_another_franchise_is_refused(app, ids):
    customer_of_b = add_customer(app, ids["B"], name="周八", phone="13500004444")
    with app.app_context(), pytest.raises(ValueError, match="customer_id"):
        registry().hook.crm_send_message(franchise_id=ids["A"], customer_id=customer_of_b, channel="sms",
                                         template="X", params={}, purpose="service")
    with app.app_context():
        assert db.session.scalars(select(Message).where(Message.customer_id == customer_of_b)).first() is None


def test_unknown_channel_or_purpose_is_a_clear_error(app, ids):
    customer_id = add_customer(app, ids["A"], name="吴九", phone="13400005555")
    with app.app_context():
        with pytest.raises(ValueError, match="channel: 'fax'"):
            registry().hook.crm_send_message(franchise_id=ids["A"], customer_id=customer_id, channel="fax",
                                             template="X", params={}, purpose="service")
        with pytest.raises(ValueError, match="purpose: 'spam'"):
            registry().hook.crm_send_message(franchise_id=ids["A"], customer_id=customer_id, channel="sms",
                                             template="X", params={}, purpose="spam")


def test_a_customer_without_a_phone_is_logged_as_no_recipient(app, ids):
    customer_id = add_customer(app, ids["A"], name="郑十", phone=None)
    answer = send(app, ids["A"], customer_id)
    assert answer["status"] == "no_recipient"
    assert message(app, answer["message_id"]).status == "no_recipient"


def test_franchise_b_users_do_not_see_franchise_a_messages(app, ids, client_for):
    customer_id = add_customer(app, ids["A"], name="钱一", phone="13300006666")
    sent = send(app, ids["A"], customer_id, template="ONLY_A")
    assert "ONLY_A" in client_for("hq").get("/integrations/messages/list/").get_data(as_text=True)
    with app.app_context():
        from tests.conftest import add_user
        from core.tenancy import Franchise

        add_user(app, "bmanager", "Account Manager", franchises=[db.session.get(Franchise, ids["B"])])
    bmanager = client_for("bmanager")
    listing = bmanager.get("/integrations/messages/list/")
    assert listing.status_code == 200 and "ONLY_A" not in listing.get_data(as_text=True)
    assert bmanager.get(f"/integrations/messages/show/{sent['message_id']}").status_code == 404
