"""Tracking pushes from Kuaidi100, Kdniao and our signed JSON: signatures, dedupe, status, exceptions, inbox."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import time
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select

from core.clock import utcnow
from core.extensions import db
from core.jobs import JobOutbox
from core.models import Shipment, TrackingEvent
from core.plugin_settings import PluginSettings, save_settings
from core.plugins import set_activation
from core.tenancy import EVERYTHING, scope_as
from plugins.integrations.inbound import inbox, watch
from plugins.integrations.inbound.models import InboundPayload, ShipmentException, UnmatchedEvent
from plugins.integrations.signing import signed_headers

SALT = "salt-of-franchise-a"
APP_KEY = "kdniao-app-key-a"
SECRET = "generic-secret-of-a-0123456789"
BASE = dt.datetime(2026, 11, 20, 8, 0)  # Beijing time, as providers send it


@pytest.fixture(scope="module", autouse=True)
def setup(app, integrations_active):
    ids = app.config["TEST_IDS"]
    app.config["CRM_INTEGRATION_CACHE_TTL"] = 0  # settings changed by a test apply at once
    with app.app_context(), scope_as(EVERYTHING):
        registry = app.extensions["crm_plugins"]
        values, errors = save_settings(registry, "integrations", ids["A"], {
            "kuaidi100_salt": SALT, "kdniao_business_id": "1234567", "kdniao_app_key": APP_KEY,
            "generic_secret": SECRET})
        assert not errors, errors
        save_settings(registry, "integrations", ids["B"], {"kuaidi100_salt": "salt-of-b"})
        for number, franchise in (("YD1000000001", "A"), ("YD1000000002", "A"), ("YD1000000003", "A"),
                                  ("YD2000000001", "B"), ("YD1000000009", "A")):
            db.session.add(Shipment(franchise_id=ids[franchise], waybill_no=number,
                                    created_at=BASE - dt.timedelta(hours=10)))
        db.session.commit()


def trace(waybill, steps, state="0"):
    """A Kuaidi100 `param`: steps are (minutes after BASE, statusCode, text), returned newest first."""
    data = [{"context": text, "time": (BASE + dt.timedelta(minutes=m)).strftime("%Y-%m-%d %H:%M:%S"),
             "ftime": (BASE + dt.timedelta(minutes=m)).strftime("%Y-%m-%d %H:%M:%S"), "statusCode": code,
             "status": "在途", "areaName": "江苏,苏州市,常熟市"} for m, code, text in steps]
    data.sort(key=lambda item: item["time"], reverse=True)
    return json.dumps({"status": "polling", "billstatus": "got", "message": "", "lastResult": {
        "message": "ok", "state": state, "status": "200", "condition": "F00", "ischeck": "0", "com": "yunda",
        "nu": waybill, "data": data}}, ensure_ascii=False)


def kuaidi100(client, param, salt=SALT, franchise="A", sign=None):
    sign = sign or hashlib.md5((param + salt).encode()).hexdigest().upper()
    return client.post(f"/integrations/push/kuaidi100/{franchise}", data=urlencode({"param": param, "sign": sign}),
                       content_type="application/x-www-form-urlencoded")


def events_of(waybill):
    return db.session.scalars(select(TrackingEvent).join(Shipment).where(Shipment.waybill_no == waybill)
                              .order_by(TrackingEvent.occurred_at)).all()


def shipment(waybill):
    db.session.expire_all()
    return db.session.scalar(select(Shipment).where(Shipment.waybill_no == waybill))


def announced(event_name):
    rows = db.session.scalars(select(JobOutbox).where(JobOutbox.func == "core.events:deliver")).all()
    return [row.args[2] for row in rows if row.args and row.args[0] == event_name]


STEPS = [(0, "103", "【苏州市】已揽收"), (60, "1002", "快件已发往上海转运中心"), (120, "1001", "到达【上海浦东】"),
         (180, "5", "派件中，派件员 张师傅 13912345678")]


def test_a_kuaidi100_push_stores_the_trace_and_the_status_follows_the_newest_event(app):
    client = app.test_client()
    response = kuaidi100(client, trace("YD1000000001", STEPS))
    assert response.status_code == 200
    assert response.json == {"result": True, "returnCode": "200", "message": "成功"}
    with app.app_context():
        stored = events_of("YD1000000001")
        assert [e.status for e in stored] == ["PICKED_UP", "IN_TRANSIT", "ARRIVED_DEST", "OUT_FOR_DELIVERY"]
        assert [e.raw_code for e in stored] == ["103", "1002", "1001", "5"]
        assert stored[0].raw_text == "【苏州市】已揽收" and stored[0].provider == "kuaidi100"
        # Beijing 08:00 is 00:00 UTC: the database keeps UTC
        assert stored[0].occurred_at == BASE - dt.timedelta(hours=8)
        parcel = shipment("YD1000000001")
        assert parcel.status == "OUT_FOR_DELIVERY"
        assert parcel.status_at == BASE + dt.timedelta(minutes=180) - dt.timedelta(hours=8)
        log = db.session.scalars(select(InboundPayload).where(InboundPayload.waybill_no == "YD1000000001")).one()
        assert (log.outcome, log.events_new, log.events_duplicate) == ("accepted", 4, 0)
        assert "13912345678" not in (log.body_enc or "")  # encrypted at rest


def test_a_resent_trace_changes_nothing_and_only_the_new_event_of_a_longer_trace_is_added(app):
    client = app.test_client()
    assert kuaidi100(client, trace("YD1000000001", STEPS)).status_code == 200
    with app.app_context():
        assert len(events_of("YD1000000001")) == 4
        last = db.session.scalars(select(InboundPayload).order_by(InboundPayload.id.desc())).first()
        assert (last.outcome, last.events_new, last.events_duplicate) == ("duplicate", 0, 4)
    longer = STEPS + [(240, "301", "已签收，本人签收")]
    assert kuaidi100(client, trace("YD1000000001", longer, state="3")).status_code == 200
    with app.app_context():
        assert len(events_of("YD1000000001")) == 5
        parcel = shipment("YD1000000001")
        assert parcel.status == "DELIVERED" and parcel.delivered_at is not None
        assert [p["waybill_no"] for p in announced("shipment.delivered")] == ["YD1000000001"]
    # an older scan arriving late is stored but does not roll the status back
    late = STEPS + [(150, "1003", "转递中")]
    assert kuaidi100(client, trace("YD1000000001", late)).status_code == 200
    with app.app_context():
        assert len(events_of("YD1000000001")) == 6
        assert shipment("YD1000000001").status == "DELIVERED"


def test_an_exception_event_is_announced_once_per_shipment_and_kind(app):
    client = app.test_client()
    steps = STEPS[:2] + [(200, "204", "派件异常：电话无人接听")]
    for _ in range(3):
        assert kuaidi100(client, trace("YD1000000002", steps)).status_code == 200
    steps.append((300, "209", "快件破损"))
    assert kuaidi100(client, trace("YD1000000002", steps)).status_code == 200
    with app.app_context():
        raised = [p for p in announced("shipment.exception") if p["waybill_no"] == "YD1000000002"]
        assert sorted(p["kind"] for p in raised) == ["DAMAGED", "FAILED_ATTEMPT"]
        assert shipment("YD1000000002").status == "DAMAGED"
        kinds = db.session.scalars(select(ShipmentException.kind).join(Shipment)
                                   .where(Shipment.waybill_no == "YD1000000002")).all()
        assert sorted(kinds) == ["DAMAGED", "FAILED_ATTEMPT"]


@pytest.mark.parametrize("change, status, field", [
    ({"sign": "0" * 32}, 401, "sign"),
    ({"salt": "salt-of-b"}, 401, "sign"),
    ({"param": "{not json"}, 400, "param"),
    ({"param": json.dumps({"lastResult": {"nu": "YD1000000003", "data": [{"time": "yesterday"}]}})}, 400,
     "param.lastResult.data[0].time"),
    ({"param": json.dumps({"lastResult": {"nu": "YD-1/../", "data": []}})}, 400, "param.lastResult.nu"),
])
def test_a_bad_kuaidi100_push_is_refused_in_its_reply_format_logged_and_nothing_stored(app, change, status, field):
    param = change.get("param") or trace("YD1000000003", STEPS)
    response = kuaidi100(app.test_client(), param, salt=change.get("salt", SALT), sign=change.get("sign"))
    assert response.status_code == status
    assert response.json["result"] is False and response.json["returnCode"] == str(status)
    assert field in response.json["message"]
    with app.app_context():
        assert events_of("YD1000000003") == []
        last = db.session.scalars(select(InboundPayload).order_by(InboundPayload.id.desc())).first()
        assert last.outcome == "rejected" and field in last.reason and last.http_status == status


def test_malformed_bodies_unknown_providers_and_franchises_get_a_4xx_never_a_500(app):
    client = app.test_client()
    assert client.post("/integrations/push/kuaidi100/A", data=b"\xff\xfe\x00garbage",
                       content_type="application/x-www-form-urlencoded").status_code == 400
    assert client.post("/integrations/push/kuaidi100/A", data="sign=abc",
                       content_type="application/x-www-form-urlencoded").json["message"] == "param: required"
    unknown = client.post("/integrations/push/aftership/A", data="{}")
    assert unknown.status_code == 404 and "unknown provider" in unknown.json["error"]["message"]
    nowhere = kuaidi100(client, trace("YD1000000003", STEPS), franchise="NOPE")
    assert nowhere.status_code == 404 and nowhere.json["result"] is False
    app.config["CRM_PUSH_MAX_BYTES"] = 100
    try:
        big = kuaidi100(client, trace("YD1000000003", STEPS))
        assert big.status_code == 413 and "larger than 100 bytes" in big.json["message"]
    finally:
        app.config.pop("CRM_PUSH_MAX_BYTES")
    with app.app_context():
        assert events_of("YD1000000003") == []
        unknown_row = db.session.scalars(select(InboundPayload).where(InboundPayload.provider == "aftership")).one()
        assert unknown_row.franchise_id is None and unknown_row.outcome == "rejected"


def test_a_franchise_where_the_plugin_is_off_takes_no_pushes(app):
    ids = app.config["TEST_IDS"]
    with app.app_context():
        set_activation("integrations", enabled=False, franchise_id=ids["B"])
        db.session.commit()
    try:
        response = kuaidi100(app.test_client(), trace("YD2000000001", STEPS), salt="salt-of-b", franchise="B")
        assert response.status_code == 404
    finally:
        with app.app_context():
            set_activation("integrations", enabled=None, franchise_id=ids["B"])
            db.session.commit()
    assert kuaidi100(app.test_client(), trace("YD2000000001", STEPS), salt="salt-of-b",
                     franchise="B").status_code == 200


def test_events_for_a_waybill_of_another_franchise_are_refused(app):
    response = kuaidi100(app.test_client(), trace("YD2000000001", STEPS[:1] + [(5, "1002", "x")]))
    assert response.status_code == 403
    assert "YD2000000001 belongs to another franchise" in response.json["message"]
    with app.app_context():
        assert len(events_of("YD2000000001")) == 4  # what B itself pushed in the test before


def test_unknown_waybills_wait_in_the_inbox_and_are_matched_when_the_shipment_appears(app):
    ids = app.config["TEST_IDS"]
    response = kuaidi100(app.test_client(), trace("YD3000000001", STEPS[:2]))
    assert response.status_code == 200 and response.json["result"] is True
    with app.app_context():
        waiting = db.session.scalars(select(UnmatchedEvent).where(UnmatchedEvent.waybill_no == "YD3000000001")).all()
        assert len(waiting) == 2 and all(e.matched_at is None for e in waiting)
        assert waiting[0].payload_id is not None
        db.session.add(Shipment(franchise_id=ids["A"], waybill_no="YD3000000001", created_at=BASE))
        db.session.commit()
        assert inbox.match_unmatched(ids["A"]) == 2
        assert [e.status for e in events_of("YD3000000001")] == ["PICKED_UP", "IN_TRANSIT"]
        assert shipment("YD3000000001").status == "IN_TRANSIT"
        assert inbox.match_unmatched(ids["A"]) == 0


def kdniao_form(waybill, traces, app_key=APP_KEY, business_id="1234567"):
    data = json.dumps({"EBusinessID": business_id, "PushTime": "2026-11-20 10:00:00", "Count": "1", "Data": [{
        "EBusinessID": business_id, "ShipperCode": "YD", "LogisticCode": waybill, "Success": True, "State": "2",
        "StateEx": "202", "Location": "苏州市", "Traces": [
            {"AcceptTime": (BASE + dt.timedelta(minutes=m)).strftime("%Y-%m-%d %H:%M:%S"), "AcceptStation": text,
             "Location": "苏州市", "Action": code} for m, code, text in traces]}]}, ensure_ascii=False)
    sign = base64.b64encode(hashlib.md5((data + app_key).encode()).hexdigest().encode()).decode()
    return urlencode({"RequestData": data, "RequestType": "101", "DataSign": sign})


def test_kdniao_pushes_are_verified_and_answered_in_kdniao_format(app):
    client = app.test_client()
    traces = [(0, "1", "已揽收"), (60, "2", "运输中"), (90, "412", "快递柜超时未取")]
    ok = client.post("/integrations/push/kdniao/A", data=kdniao_form("YD1000000009", traces),
                     content_type="application/x-www-form-urlencoded")
    assert ok.status_code == 200
    assert ok.json["Success"] is True and ok.json["EBusinessID"] == "1234567" and ok.json["Reason"] == ""
    bad = client.post("/integrations/push/kdniao/A", data=kdniao_form("YD1000000009", traces, app_key="wrong"),
                      content_type="application/x-www-form-urlencoded")
    assert bad.status_code == 401 and bad.json["Success"] is False and "DataSign" in bad.json["Reason"]
    other = client.post("/integrations/push/kdniao/A",
                        data=kdniao_form("YD1000000009", traces, business_id="999"),
                        content_type="application/x-www-form-urlencoded")
    assert other.status_code == 403 and "EBusinessID" in other.json["Reason"]
    with app.app_context():
        assert [e.status for e in events_of("YD1000000009")] == ["PICKED_UP", "IN_TRANSIT", "LOCKER_OVERDUE"]
        assert "YD1000000009" in [p["waybill_no"] for p in announced("shipment.exception")]


def generic(client, events, secret=SECRET, now=None, franchise="A"):
    body = json.dumps({"events": events}).encode()
    return client.post(f"/integrations/push/generic/{franchise}", data=body, content_type="application/json",
                       headers=signed_headers(secret, body, now=now))


def test_the_generic_json_push_checks_signature_and_replay_window_and_names_the_bad_field(app):
    client = app.test_client()
    events = [{"waybill_no": "YD1000000003", "occurred_at": "2026-11-20T09:00:00+08:00", "status": "PICKED_UP",
               "code": "PU", "text": "收件", "location": "上海"},
              {"waybill_no": "yd1000000003", "occurred_at": "2026-11-20T10:00:00+08:00", "status": "IN_TRANSIT"}]
    stale = generic(client, events, now=time.time() - 301)
    assert stale.status_code == 401 and stale.json["error"]["code"] == "expired"
    forged = generic(client, events, secret="not-the-secret-0123456789")
    assert forged.status_code == 401 and forged.json["error"]["code"] == "bad_signature"
    wrong = generic(client, events + [{"waybill_no": "YD1000000003", "occurred_at": "soon", "status": "HERE"}])
    assert wrong.status_code == 400 and wrong.json["error"]["field"] == "events[2].status"
    with app.app_context():
        assert events_of("YD1000000003") == []  # the valid events of a refused batch are not kept either
    ok = generic(client, events)
    assert ok.status_code == 200 and ok.json == {"accepted": 2, "duplicates": 0, "unmatched": 0}
    assert generic(client, events).json == {"accepted": 0, "duplicates": 2, "unmatched": 0}
    with app.app_context():
        assert [e.raw_code for e in events_of("YD1000000003")] == ["PU", "IN_TRANSIT"]


def test_the_watch_raises_stalled_and_delayed_parcels_once(app):
    ids = app.config["TEST_IDS"]
    now = utcnow()
    with app.app_context():
        quiet = Shipment(franchise_id=ids["A"], waybill_no="YD4000000001", created_at=now - dt.timedelta(days=4),
                         status="IN_TRANSIT", status_at=now - dt.timedelta(hours=60))
        late = Shipment(franchise_id=ids["A"], waybill_no="YD4000000002", created_at=now - dt.timedelta(days=1),
                        status="OUT_FOR_DELIVERY", status_at=now - dt.timedelta(hours=1),
                        promised_at=now - dt.timedelta(hours=2))
        done = Shipment(franchise_id=ids["A"], waybill_no="YD4000000003", created_at=now - dt.timedelta(days=4),
                        status="DELIVERED", status_at=now - dt.timedelta(hours=70),
                        promised_at=now - dt.timedelta(days=2))
        old = Shipment(franchise_id=ids["A"], waybill_no="YD4000000004", created_at=now - dt.timedelta(days=90),
                       status="IN_TRANSIT", status_at=now - dt.timedelta(days=89))
        db.session.add_all([quiet, late, done, old])
        db.session.commit()
        counts = watch.watch_shipments(ids["A"], now=now)
        raised = {p["waybill_no"]: p["kind"] for p in announced("shipment.exception") if p["source"] == "watch"}
        assert raised.get("YD4000000001") == "STALLED" and raised.get("YD4000000002") == "DELAYED"
        assert "YD4000000003" not in raised and "YD4000000004" not in raised
        assert counts["STALLED"] >= 1 and counts["DELAYED"] >= 1
        assert watch.watch_shipments(ids["A"], now=now) == {"STALLED": 0, "DELAYED": 0}


def test_secrets_are_encrypted_in_the_settings_and_never_shown_back(app, client_for):
    ids = app.config["TEST_IDS"]
    with app.app_context():
        stored = db.session.scalars(select(PluginSettings).where(
            PluginSettings.plugin == "integrations", PluginSettings.franchise_id == ids["A"])).one().values
        assert SALT not in json.dumps(stored) and stored["kuaidi100_salt"].startswith("g1:")
    page = client_for("hq").get(f"/plugins/integrations/settings/{ids['A']}")
    assert page.status_code == 200 and SALT not in page.get_data(as_text=True)
    # saving the form with the secret left blank keeps it
    with app.app_context():
        registry = app.extensions["crm_plugins"]
        values, errors = save_settings(registry, "integrations", ids["A"], {
            "kdniao_business_id": "1234567", "stall_hours": "24"})
        assert not errors
    assert kuaidi100(app.test_client(), trace("YD1000000003", STEPS[:1])).status_code == 200


def test_the_inbox_screens_are_scoped_masked_and_replay_a_corrected_payload(app, client_for):
    ids = app.config["TEST_IDS"]
    # a push signed with a salt the franchise had not yet saved
    refused = kuaidi100(app.test_client(), trace("YD1000000009", [(500, "301", "已签收")], state="3"),
                        salt="new-salt-a")
    assert refused.status_code == 401
    with app.app_context():
        payload_id = db.session.scalars(select(InboundPayload.id).order_by(InboundPayload.id.desc())).first()
        registry = app.extensions["crm_plugins"]
        save_settings(registry, "integrations", ids["A"], {"kuaidi100_salt": "new-salt-a",
                                                           "kdniao_business_id": "1234567"})
        first_id = db.session.scalars(select(InboundPayload.id).where(InboundPayload.waybill_no == "YD1000000001")
                                      .order_by(InboundPayload.id)).first()
    ait = client_for("ait")
    listing = ait.get("/integrations/payloads/list/")
    assert listing.status_code == 200 and "YD1000000001" in listing.get_data(as_text=True)
    shown = ait.get(f"/integrations/payloads/show/{first_id}").get_data(as_text=True)
    assert "139****5678" in shown and "13912345678" not in shown
    assert client_for("bob").get(f"/integrations/payloads/show/{first_id}").status_code in (302, 403, 404)
    replayed = ait.post("/integrations/payloads/action_post", data={"action": "replay", "rowid": [payload_id]},
                        follow_redirects=True)
    assert replayed.status_code == 200
    with app.app_context():
        assert shipment("YD1000000009").status == "DELIVERED"
        again = db.session.scalars(select(InboundPayload).where(InboundPayload.replay_of_id == payload_id)).one()
        assert again.outcome == "accepted" and again.events_new == 1
        assert db.session.scalar(select(func.count()).select_from(InboundPayload)
                                 .where(InboundPayload.outcome == "accepted")) >= 5
