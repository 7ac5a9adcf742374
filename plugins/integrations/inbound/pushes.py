"""The push formats partners send: signature check on the raw bytes first, then parsing into events, and
the reply each provider expects (success and refusal alike).

Nothing here touches the database: `parse()` turns a request body into `PushEvent`s or raises `PushRejected`.
"""

from __future__ import annotations

import binascii
import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import unquote_to_bytes
from zoneinfo import ZoneInfo

from core.models.statuses import STATUSES
from plugins.integrations import signing
from plugins.integrations.inbound import codes

WAYBILL_MAX = 32


class PushEvent(NamedTuple):  # a tuple: thousands are made per second
    waybill_no: str
    carrier: str | None
    occurred_at: dt.datetime  # naive UTC, as the database stores time
    status: str
    raw_code: str
    raw_text: str | None
    location: str | None


class PushRejected(Exception):
    """A refused push: HTTP status, a machine code, the field at fault (if one) and a sentence for people."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field

    @property
    def reason(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


@dataclass(frozen=True)
class Request:
    """What a provider parser needs of the HTTP request."""

    body: bytes
    headers: dict[str, str]
    now: float
    check_window: bool = True  # a replay by an admin is not held to the replay window


def local_to_utc(value: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    if value.tzinfo is None:
        return value - zone.utcoffset(value)  # a wall-clock time of the zone
    return value.astimezone(dt.timezone.utc).replace(tzinfo=None)


_BAD_ESCAPE = re.compile(rb"%(?![0-9A-Fa-f]{2})|[\r\n]")


def _unquote(raw: bytes) -> bytes:
    """Percent-decoding of a form value, in C: a push's body is mostly %XX (Chinese text), and the stdlib's
    Python loop over every escape costs more than the rest of the request. Quoted-printable decoding
    (binascii) is the same transform with '=' for '%'; anything it would read differently takes the
    stdlib's way."""
    if b"%" not in raw and b"+" not in raw:
        return raw
    if _BAD_ESCAPE.search(raw):
        return unquote_to_bytes(raw.replace(b"+", b" "))
    return binascii.a2b_qp(raw.replace(b"=", b"=3D").replace(b"%", b"=").replace(b"+", b" "))


def decode_form(body: bytes) -> dict[str, str]:
    """application/x-www-form-urlencoded -> {name: value}; the same result as urllib's parse_qsl."""
    fields = {}
    try:
        for pair in body.split(b"&"):
            if not pair:
                continue
            name, equals, value = pair.partition(b"=")
            if not equals:
                raise PushRejected(400, "bad_form", "the body is not a form (application/x-www-form-urlencoded)")
            fields[_unquote(name).decode("utf-8")] = _unquote(value).decode("utf-8")
    except UnicodeDecodeError:
        raise PushRejected(400, "bad_encoding", "the body is not UTF-8") from None
    return fields


def _json(text: str, field: str):
    try:
        return json.loads(text)
    except ValueError as err:
        raise PushRejected(400, "bad_json", f"not valid JSON ({err})", field) from None


def _need(settings: dict, key: str, what: str) -> str:
    value = settings.get(key)
    if not value:
        raise PushRejected(403, "not_configured", f"{what} is not configured for this franchise")
    return value


def _waybill(value, field: str) -> str:
    waybill = str(value or "").strip().upper()
    if not waybill:
        raise PushRejected(400, "missing_field", "required", field)
    if len(waybill) > WAYBILL_MAX or not waybill.isalnum():
        raise PushRejected(400, "bad_waybill", f"a waybill number has up to {WAYBILL_MAX} letters or digits",
                           field)
    return waybill


def _local_time(value, field: str, zone: ZoneInfo) -> dt.datetime:
    try:
        return local_to_utc(dt.datetime.fromisoformat(str(value).strip()), zone)  # C-fast; takes "Y-m-d H:M:S"
    except ValueError:
        raise PushRejected(400, "bad_time", "not a time like 2024-09-20 08:04:24", field) from None


def _text(value, limit: int) -> str | None:
    return str(value)[:limit] if value not in (None, "") else None


# --- Kuaidi100 --------------------------------------------------------------------------------------------


class Kuaidi100:
    name = "kuaidi100"

    def parse(self, request: Request, settings: dict, zone: ZoneInfo) -> list[PushEvent]:
        form = decode_form(request.body)
        param = form.get("param")
        if not param:
            raise PushRejected(400, "missing_field", "required", "param")
        salt = _need(settings, "kuaidi100_salt", "Kuaidi100 (the push salt)")
        if not signing.same(signing.kuaidi100_sign(param.encode(), salt), form.get("sign")):
            raise PushRejected(401, "bad_signature", "the signature does not match md5(param + salt)", "sign")
        data = _json(param, "param")
        last = data.get("lastResult") if isinstance(data, dict) else None
        if not isinstance(last, dict) or not isinstance(last.get("data", []), list):
            raise PushRejected(400, "bad_format", "lastResult with a data list is required", "param.lastResult")
        waybill = _waybill(last.get("nu"), "param.lastResult.nu")
        carrier = _text(last.get("com"), 16)
        items = last.get("data") or []
        events = []
        for index, item in enumerate(items):  # newest first
            field = f"param.lastResult.data[{index}]"
            if not isinstance(item, dict):
                raise PushRejected(400, "bad_format", "a trace item must be an object", field)
            code = str(item.get("statusCode") or "").strip()
            text = str(item.get("status") or "").strip()
            status = codes.kuaidi100_status(code, text)
            if status is None and index == 0:
                # without resultv2 only the parcel's state is given: it describes the newest item
                code = code or str(last.get("state") or "").strip()
                status = codes.kuaidi100_status(code)
            events.append(PushEvent(
                waybill_no=waybill, carrier=carrier,
                occurred_at=_local_time(item.get("time") or item.get("ftime"), f"{field}.time", zone),
                status=status or "IN_TRANSIT", raw_code=(code or text)[:32],
                raw_text=_text(item.get("context"), 2000),
                location=_text(item.get("areaName") or item.get("areaCode"), 128)))
        return events

    def reply(self, settings: dict, summary: dict | None = None, rejected: PushRejected | None = None) -> dict:
        if rejected is None:
            return {"result": True, "returnCode": "200", "message": "成功"}
        return {"result": False, "returnCode": str(rejected.status), "message": rejected.reason}


# --- Kdniao ------------------------------------------------------------------------------------------------


class Kdniao:
    name = "kdniao"

    def parse(self, request: Request, settings: dict, zone: ZoneInfo) -> list[PushEvent]:
        form = decode_form(request.body)
        data_text = form.get("RequestData")
        if not data_text:
            raise PushRejected(400, "missing_field", "required", "RequestData")
        if form.get("RequestType", "101") not in ("101", "102", "103"):
            raise PushRejected(400, "bad_request_type", "only trace pushes (101) are accepted", "RequestType")
        app_key = _need(settings, "kdniao_app_key", "Kdniao (the AppKey)")
        if not signing.same(signing.kdniao_sign(data_text.encode(), app_key), form.get("DataSign"),
                            ignore_case=False):
            raise PushRejected(401, "bad_signature", "the signature does not match base64(md5(RequestData + "
                                                     "AppKey))", "DataSign")
        data = _json(data_text, "RequestData")
        if not isinstance(data, dict) or not isinstance(data.get("Data"), list):
            raise PushRejected(400, "bad_format", "a Data list is required", "RequestData.Data")
        business_id = settings.get("kdniao_business_id")
        if business_id and str(data.get("EBusinessID", "")) != str(business_id):
            raise PushRejected(403, "wrong_account", "EBusinessID is not this franchise's Kdniao account",
                               "RequestData.EBusinessID")
        events = []
        for index, item in enumerate(data["Data"]):
            field = f"RequestData.Data[{index}]"
            if not isinstance(item, dict) or not isinstance(item.get("Traces", []), list):
                raise PushRejected(400, "bad_format", "an object with a Traces list is required", field)
            waybill = _waybill(item.get("LogisticCode"), f"{field}.LogisticCode")
            carrier = _text(item.get("ShipperCode"), 16)
            traces = item.get("Traces") or []
            for trace_index, trace in enumerate(traces):  # oldest first
                trace_field = f"{field}.Traces[{trace_index}]"
                if not isinstance(trace, dict):
                    raise PushRejected(400, "bad_format", "a trace must be an object", trace_field)
                code = str(trace.get("Action") or "").strip()
                status = codes.kdniao_status(code)
                if status is None and trace_index == len(traces) - 1:
                    code = code or str(item.get("StateEx") or item.get("State") or "").strip()
                    status = codes.kdniao_status(code)
                events.append(PushEvent(
                    waybill_no=waybill, carrier=carrier,
                    occurred_at=_local_time(trace.get("AcceptTime"), f"{trace_field}.AcceptTime", zone),
                    status=status or "IN_TRANSIT", raw_code=code[:32],
                    raw_text=_text(trace.get("AcceptStation"), 2000),
                    location=_text(trace.get("Location") or item.get("Location"), 128)))
        return events

    def reply(self, settings: dict, summary: dict | None = None, rejected: PushRejected | None = None) -> dict:
        return {"EBusinessID": settings.get("kdniao_business_id") or "",
                "UpdateTime": dt.datetime.now().strftime("%Y-%m-%d %H:%M:%S"),
                "Success": rejected is None, "Reason": rejected.reason if rejected else ""}


# --- our own signed JSON (also the bulk path) ------------------------------------------------------------


class Generic:
    name = "generic"

    def __init__(self, max_events: int = 10000):
        self.max_events = max_events

    def parse(self, request: Request, settings: dict, zone: ZoneInfo) -> list[PushEvent]:
        timestamp = request.headers.get(signing.TIMESTAMP_HEADER)
        signature = request.headers.get(signing.SIGNATURE_HEADER)
        if not timestamp or not signature:
            raise PushRejected(401, "unsigned", "the X-CRM-Timestamp and X-CRM-Signature headers are required",
                               signing.SIGNATURE_HEADER)
        try:
            moment = int(timestamp)
        except ValueError:
            raise PushRejected(400, "bad_timestamp", "not a UNIX time in seconds", signing.TIMESTAMP_HEADER) from None
        if request.check_window and abs(request.now - moment) > signing.REPLAY_WINDOW_SECONDS:
            raise PushRejected(401, "expired", "the timestamp is more than 5 minutes away from now",
                               signing.TIMESTAMP_HEADER)
        secret = _need(settings, "generic_secret", "the generic push (its signing secret)")
        if not signing.same(signing.hmac_signature(secret, timestamp, request.body), signature):
            raise PushRejected(401, "bad_signature", "the signature does not match HMAC-SHA256 over "
                                                     "'<timestamp>.<body>'", signing.SIGNATURE_HEADER)
        try:
            data = json.loads(request.body)
        except ValueError as err:
            raise PushRejected(400, "bad_json", f"not valid JSON ({err})", "body") from None
        items = data.get("events") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise PushRejected(400, "bad_format", "an events list is required", "events")
        if len(items) > self.max_events:
            raise PushRejected(413, "too_many_events", f"at most {self.max_events} events per request", "events")
        return [self._event(item, f"events[{index}]", zone) for index, item in enumerate(items)]

    @staticmethod
    def _event(item, field: str, zone: ZoneInfo) -> PushEvent:
        if not isinstance(item, dict):
            raise PushRejected(400, "bad_format", "an event must be an object", field)
        status = item.get("status")
        if status not in STATUSES:
            raise PushRejected(400, "bad_status", f"not one of: {', '.join(STATUSES)}", f"{field}.status")
        try:
            occurred_at = local_to_utc(dt.datetime.fromisoformat(str(item.get("occurred_at"))), zone)
        except ValueError:
            raise PushRejected(400, "bad_time", "not an ISO 8601 time (2024-09-20T08:04:24+08:00)",
                               f"{field}.occurred_at") from None
        code = item.get("code")
        if code is not None and (not isinstance(code, str) or len(code) > 32):
            raise PushRejected(400, "bad_code", "a text of at most 32 characters", f"{field}.code")
        return PushEvent(
            waybill_no=_waybill(item.get("waybill_no"), f"{field}.waybill_no"),
            carrier=_text(item.get("carrier"), 16), occurred_at=occurred_at, status=status,
            raw_code=code or status, raw_text=_text(item.get("text"), 2000),
            location=_text(item.get("location"), 128))

    def reply(self, settings: dict, summary: dict | None = None, rejected: PushRejected | None = None) -> dict:
        if rejected is None:
            return dict(summary or {})
        return {"error": {"code": rejected.code, "field": rejected.field, "message": rejected.message}}


def providers(max_events: int) -> dict[str, object]:
    return {p.name: p for p in (Kuaidi100(), Kdniao(), Generic(max_events))}
